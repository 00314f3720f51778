# Build stage "configure": turn off what makes a throwaway VM slow or
# unpredictable. Each line printed is a status line. Must be safe to run
# again (a reboot reruns it). NOT RUN AGAINST REAL WINDOWS YET.
$ErrorActionPreference = 'Continue'
function Reg([string]$key, [string]$name, [int]$value) {
	New-Item -Force $key | Out-Null
	Set-ItemProperty $key $name $value -Type DWord
}
"configure: Defender real-time scanning off"
Set-MpPreference -DisableRealtimeMonitoring $true -ErrorAction SilentlyContinue
Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection' DisableRealtimeMonitoring 1
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
"configure: scheduled maintenance off"
Reg 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\Maintenance' MaintenanceDisabled 1
exit 0
