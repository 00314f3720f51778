# osrun guest-init: runs at every boot as SYSTEM. In a build stage the
# stage's share holds stage.ps1: run it, log its output as status lines,
# say "done" if it succeeded, and shut down. In a run there is no stage.ps1
# and this exits. NOT RUN AGAINST REAL WINDOWS YET: see docs/windows.md.
# Not 'Stop': Windows PowerShell turns each stderr line of a native command
# redirected with 2>&1 (the stage's own output here) into an error record,
# which 'Stop' would make the end of the stage.
$ErrorActionPreference = 'Continue'
$share = '\\10.0.2.4\qemu'
$script = "$share\stage.ps1"
# Status lines go to the share's status file and to COM1, the serial
# console osrun keeps and reads "osrun-status: " lines from
# (runner/lib/status.h), where the share cannot be reached.
$port = $null
try {
	$port = New-Object System.IO.Ports.SerialPort 'COM1', 115200
	$port.Open()
} catch { $port = $null }
function Serial([string]$line) {
	if ($port) { try { $port.WriteLine("osrun-status: $line") } catch { } }
}
function Say([string]$line) {
	Serial $line
	Add-Content -Path "$share\status.txt" -Value $line
}
$found = $false
for ($i = 0; $i -lt 60 -and -not $found; $i++) {
	if (Test-Path $share) { $found = Test-Path $script; if (-not $found) { exit 0 } } else { Start-Sleep 2 }
}
# Every boot of a build stage has a share, and a run restores a snapshot
# rather than booting: a boot without one is a stage that would wait out
# its timeout.
if (-not $found) {
	Serial "failed: stage runner: the share $share did not answer within 120 s"
	exit 0
}
try {
	Copy-Item $script C:\osrun\stage.ps1 -Force -ErrorAction Stop
	& powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\osrun\stage.ps1 *>&1 |
		ForEach-Object { Say "$_" }
	if ($LASTEXITCODE -eq 0) { Say 'done' }
	else { Say "failed: the stage script exited $LASTEXITCODE" }
} catch {
	Say "failed: the stage script: $_"
}
Stop-Computer -Force
