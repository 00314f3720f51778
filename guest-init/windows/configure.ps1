# Build stage "configure": turn off what makes a throwaway VM slow or
# unpredictable. Each line printed is a status line. Must be safe to run
# again (a reboot reruns it). NOT RUN AGAINST REAL WINDOWS YET.
$ErrorActionPreference = 'Continue'
# New-Item -Force would delete a key that exists, values and all.
function Reg([string]$key, [string]$name, $value, [string]$type = 'DWord') {
	if (-not (Test-Path -LiteralPath $key)) { New-Item -Force -Path $key | Out-Null }
	Set-ItemProperty -LiteralPath $key -Name $name -Value $value -Type $type
}
"configure: Defender real-time scanning off"
Set-MpPreference -DisableRealtimeMonitoring $true -ErrorAction SilentlyContinue
Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection' DisableRealtimeMonitoring 1
# Tamper Protection (on by default) ignores Set-MpPreference's and the
# policy's DisableRealtimeMonitoring: it blocks the Real-Time Protection
# values (event 5013, as SigmaHQ's win_defender_tamper_protection_trigger
# rule lists them), while an exclusion is a change it lets through (event
# 5007). So real-time scanning is also kept off the system drive this way.
"configure: Defender exclusion for C:\"
Add-MpPreference -ExclusionPath 'C:\' -ErrorAction SilentlyContinue
"configure: Windows Update off"
Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU' NoAutoUpdate 1
Stop-Service wuauserv -Force -ErrorAction SilentlyContinue
Set-Service wuauserv -StartupType Disabled
"configure: SmartScreen and error reporting off"
Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\System' EnableSmartScreen 0
Disable-WindowsErrorReporting | Out-Null
"configure: System Restore, hibernation and sleep off"
Disable-ComputerRestore -Drive 'C:\' -ErrorAction SilentlyContinue
powercfg.exe /hibernate off
powercfg.exe /change standby-timeout-ac 0
powercfg.exe /change monitor-timeout-ac 0
"configure: power plan High Performance"
powercfg.exe /setactive 8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c
# Each run's share is new, under the same UNC path: the SMB client's caches
# of file attributes, of names not found and of directory listings (10, 5
# and 10 s by default) would serve the last run's entries. 0 turns each off
# (Microsoft, "SMB2 Client Redirector Caches Explained"; the same settings
# as Set-SmbClientConfiguration's -FileInfoCacheLifetime and the others).
"configure: SMB client caches off"
$ws = 'HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters'
Reg $ws FileInfoCacheLifetime 0
Reg $ws FileNotFoundCacheLifetime 0
Reg $ws DirectoryCacheLifetime 0
# cmd.exe and most console programs write the OEM code page (437, 850...),
# which the host cannot tell from UTF-8. 65001 as the ANSI, OEM and Mac
# code page is what Settings' "Beta: Use Unicode UTF-8 for worldwide
# language support" sets (Microsoft, "Use UTF-8 code pages in Windows
# apps"); it applies after the restart that ends this stage.
"configure: UTF-8 as the system code page"
$nls = 'HKLM:\SYSTEM\CurrentControlSet\Control\Nls\CodePage'
foreach ($name in 'ACP', 'OEMCP', 'MACCP') { Reg $nls $name '65001' 'String' }
"configure: scheduled maintenance off"
Reg 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\Maintenance' MaintenanceDisabled 1
# Each restore moves the guest's clock on by as long as the snapshot sat:
# a task whose time passed meanwhile would start during a run, and so
# would one waiting for the machine to be idle. The two kinds lg/osrun's
# provisioning disables (20837c0, win11-init/boot-0.ps1). Tasks started at
# boot, at logon or by an event are kept: osrun's stage runner is one.
"configure: timed and idle scheduled tasks off"
Get-ScheduledTask | Where-Object State -NE 'Disabled' |
	Where-Object { $_.Triggers | Where-Object { $_.CimClass.CimClassName -like '*Idle*' } } |
	Disable-ScheduledTask -ErrorAction SilentlyContinue | Out-Null
Get-ScheduledTask | Where-Object State -NE 'Disabled' | Get-ScheduledTaskInfo -ErrorAction SilentlyContinue |
	Where-Object { $_.NextRunTime } |
	ForEach-Object { Disable-ScheduledTask -TaskName $_.TaskName -TaskPath $_.TaskPath -ErrorAction SilentlyContinue } |
	Out-Null
# osrun sets the guest's clock after each restore (guest-set-time);
# W32Time would move it again, toward a time server or the RTC.
"configure: time synchronisation off"
w32tm.exe /config /syncfromflags:NO /update | Out-Null
Stop-Service W32Time -Force -ErrorAction SilentlyContinue
Set-Service W32Time -StartupType Disabled
exit 0
