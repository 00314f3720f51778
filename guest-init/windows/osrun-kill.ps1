# Stops the running osrun command and every process it started, so that a
# session's guest takes the next command after an interrupted or timed-out
# one (osrun-kill on Linux does the same by the command's session).
# NOT RUN AGAINST REAL WINDOWS YET.
# osrun-exec.ps1 records the command's process id in C:\osrun\command.pid.
# taskkill /T ends "the specified process and any child processes started
# by it", /F forcefully (Microsoft's taskkill documentation). A child that
# has already lost its parent is not found this way.
$ErrorActionPreference = 'Stop'
$pidFile = 'C:\osrun\command.pid'
if (-not (Test-Path -LiteralPath $pidFile)) { exit 0 }
$id = [System.IO.File]::ReadAllText($pidFile).Trim()
if ($id -notmatch '^[0-9]+$') { exit 1 }
taskkill.exe /T /F /PID $id | Out-Null
exit 0
