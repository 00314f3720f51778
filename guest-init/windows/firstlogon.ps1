# osrun guest-init, first logon (stage "firstboot"). FirstLogonCommands run
# this from the setup medium as the autologon administrator. It makes the
# guest reachable (drivers, SMB share, guest agent), installs the boot-time
# stage runner, says "done" on the stage's status file and shuts down.
# NOT RUN AGAINST REAL WINDOWS YET: see docs/windows.md.
$ErrorActionPreference = 'Stop'
$medium = Split-Path -Parent (Split-Path -Parent $MyInvocation.MyCommand.Path)
$status = '\\10.0.2.4\qemu\status.txt'
New-Item -ItemType Directory -Force C:\osrun | Out-Null

# Each status line also goes to COM1, the serial console osrun keeps and
# reads "osrun-status: " lines from (runner/lib/status.h): where the share
# cannot be reached, a failure still ends the stage at once, not after
# its hours of timeout (FirstLogonCommands never run again).
function Serial([string]$line) {
	try {
		$port = New-Object System.IO.Ports.SerialPort 'COM1', 115200
		$port.Open()
		try { $port.WriteLine("osrun-status: $line") } finally { $port.Close() }
	} catch { Add-Content -Path C:\osrun\build.log -Value "COM1: $_" }
}

function Say([string]$line) {
	Add-Content -Path C:\osrun\build.log -Value $line
	Serial $line
	# The share may need a moment after the network comes up.
	for ($i = 0; $i -lt 30; $i++) {
		try { Add-Content -Path $status -Value $line; return } catch { Start-Sleep 2 }
	}
	Serial "failed: firstboot: the share $status did not answer within 60 s"
	Stop-Computer -Force
	exit 1
}

try {
	# Windows 11 24H2 and Server 2025 refuse unsigned guest SMB; QEMU's
	# smbd is a guest-only share on the host's private network.
	$ws = 'HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters'
	Set-ItemProperty $ws AllowInsecureGuestAuth 1 -Type DWord
	Set-ItemProperty $ws RequireSecuritySignature 0 -Type DWord
	$pol = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\LanmanWorkstation'
	if (-not (Test-Path -LiteralPath $pol)) { New-Item -Force -Path $pol | Out-Null }
	Set-ItemProperty $pol AllowInsecureGuestAuth 1 -Type DWord
	# A restart that fails (a dependent service that will not stop) is no
	# reason to fail the build: Say retries, and the settings hold after
	# the next boot anyway.
	try { Restart-Service LanmanWorkstation -Force } catch { Add-Content C:\osrun\build.log "LanmanWorkstation restart: $_" }
	Say "firstboot: SMB guest access allowed"

	# pnputil asks "Would you like to install this device software?" for a
	# publisher that is not trusted yet, and nobody answers: each catalog's
	# signer goes into TrustedPublisher first (as certutil -addstore
	# TrustedPublisher does in trippsoft/packer-vagrant's install-drivers.ps1).
	$trusted = New-Object System.Security.Cryptography.X509Certificates.X509Store 'TrustedPublisher', 'LocalMachine'
	$trusted.Open('ReadWrite')
	Get-ChildItem -LiteralPath "$medium\`$WinPEDriver`$" -Recurse -Filter *.cat | ForEach-Object {
		$signer = (Get-AuthenticodeSignature -LiteralPath $_.FullName).SignerCertificate
		if ($signer) { $trusted.Add($signer) }
	}
	$trusted.Close()
	pnputil.exe /add-driver "$medium\`$WinPEDriver`$\*.inf" /subdirs /install | Out-Null
	# Microsoft's "PnPUtil return values": 3010, installed and a restart is
	# needed (this stage ends in one); 259, no device matches a driver or
	# each has as good a one already: Setup bound these from $WinPEDriver$
	# before this logon. Either way what counts is checked next.
	if ($LASTEXITCODE -ne 0 -and $LASTEXITCODE -ne 259 -and $LASTEXITCODE -ne 3010) { throw "pnputil: exit code $LASTEXITCODE" }
	# Every virtio disk, network and serial device osrun gives the guest
	# (PCI vendor 1AF4: transitional ids 1000, 1001, 1003; modern 1041,
	# 1042, 1043) has a working driver: Win32_PnPEntity's
	# ConfigManagerErrorCode 0, or 14 until the restart that ends this stage.
	$virtio = '^PCI\\VEN_1AF4&DEV_(1000|1001|1003|1041|1042|1043)&'
	$broken = Get-CimInstance Win32_PnPEntity | Where-Object { $_.DeviceID -match $virtio -and $_.ConfigManagerErrorCode -notin 0, 14 }
	if ($broken) {
		throw "virtio devices without a working driver: $(($broken | ForEach-Object { "$($_.DeviceID) (code $($_.ConfigManagerErrorCode))" }) -join ', ')"
	}
	Say "firstboot: virtio drivers installed"

	# Windows' default maximum password age is 42 days: past it AutoLogon
	# fails after a restart in the guest and --user finds no session. As
	# dockur/windows (efe47da, assets/win11x64.cmd) does for its user.
	Set-LocalUser -Name $env:USERNAME -PasswordNeverExpires $true
	Say "firstboot: the password of $env:USERNAME never expires"

	$msi = Join-Path $medium 'osrun\qemu-ga-x86_64.msi'
	$p = Start-Process msiexec.exe -ArgumentList "/i `"$msi`" /qn /norestart /l*v C:\osrun\qemu-ga.log" -PassThru
	# Without its handle taken while it runs, ExitCode may come back $null
	# (PowerShell issues #5421, #20400).
	$null = $p.Handle
	$p.WaitForExit()
	# 3010 is ERROR_SUCCESS_REBOOT_REQUIRED (Microsoft's MsiExec.exe and
	# InstMsi.exe error messages): installed; the stage ends in a restart.
	if ($p.ExitCode -ne 0 -and $p.ExitCode -ne 3010) { throw "qemu-ga MSI: exit code $($p.ExitCode)" }
	Set-Service QEMU-GA -StartupType Automatic
	Start-Service QEMU-GA
	Say "firstboot: guest agent installed"

	# The helper each run starts: osrun-guest.exe (exec, mount, kill,
	# detach, copy).
	Copy-Item (Join-Path $medium 'osrun\*.ps1') C:\osrun\ -Force
	Copy-Item (Join-Path $medium 'osrun\osrun-guest.exe') C:\osrun\ -Force
	$action = New-ScheduledTaskAction -Execute powershell.exe `
		-Argument '-NoProfile -ExecutionPolicy Bypass -File C:\osrun\stage-runner.ps1'
	$trigger = New-ScheduledTaskTrigger -AtStartup
	Register-ScheduledTask -TaskName osrun-stage -Action $action -Trigger $trigger -User SYSTEM -RunLevel Highest -Force | Out-Null
	Say "firstboot: stage runner registered"
	Say "done"
} catch {
	Say "failed: firstboot: $_"
}
Stop-Computer -Force
