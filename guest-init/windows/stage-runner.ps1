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
$found = $false
for ($i = 0; $i -lt 60 -and -not $found; $i++) {
	if (Test-Path $share) { $found = Test-Path $script; if (-not $found) { exit 0 } } else { Start-Sleep 2 }
}
if (-not $found) { exit 0 }
try {
	Copy-Item $script C:\osrun\stage.ps1 -Force -ErrorAction Stop
	& powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\osrun\stage.ps1 *>&1 |
		ForEach-Object { Add-Content -Path "$share\status.txt" -Value "$_" }
	if ($LASTEXITCODE -eq 0) { Add-Content -Path "$share\status.txt" -Value 'done' }
	else { Add-Content -Path "$share\status.txt" -Value "failed: the stage script exited $LASTEXITCODE" }
} catch {
	Add-Content -Path "$share\status.txt" -Value "failed: the stage script: $_"
}
Stop-Computer -Force
