# Runs one osrun command (started by the guest agent as SYSTEM, with
# OSRUN_CMD, OSRUN_SHARE, OSRUN_RUN_ID and OSRUN_WORKDIR set). cmd.exe runs
# the command; its streams are files on the per-run share, which osrun
# follows live. Exits with the command's exit code. NOT RUN AGAINST REAL
# WINDOWS YET.
$share = $env:OSRUN_SHARE
$wd = if ($env:OSRUN_WORKDIR) { $env:OSRUN_WORKDIR } else { 'C:\' }
$cmd = $env:OSRUN_CMD
$volumes = $env:OSRUN_VOLUMES
Remove-Item 'Env:OSRUN_CMD', 'Env:OSRUN_SHARE', 'Env:OSRUN_WORKDIR', 'Env:OSRUN_RUN_ID', 'Env:OSRUN_VOLUMES' -ErrorAction SilentlyContinue
# Volumes ("SHARE ro|rw PATH" lines): "X:" becomes a drive letter of this
# logon session, which the command inherits; any other path a directory
# symbolic link to the UNC path (local-to-remote links are evaluated by
# default: Microsoft's "fsutil behavior" SymlinkEvaluation). Read-only is
# the server's rule. Both are removed after the command, so a -n snapshot
# keeps no link to a share that is gone.
$drives = @(); $links = @()
foreach ($line in ($volumes -split "`n")) {
	if (-not $line) { continue }
	$vshare, $vmode, $vpath = $line -split ' ', 3
	$unc = "\\10.0.2.4\$vshare"
	if ($vpath -match '^[A-Za-z]:$') {
		net.exe use $vpath $unc /persistent:no | Out-Null
		$drives += $vpath
	} else {
		New-Item -ItemType Directory -Force -Path (Split-Path -Parent $vpath) | Out-Null
		New-Item -ItemType SymbolicLink -Path $vpath -Target $unc | Out-Null
		$links += $vpath
	}
}
# /s /c "..." keeps the command line as given, quotes included.
$p = Start-Process -FilePath cmd.exe -ArgumentList "/d /s /c `"$cmd`"" -WorkingDirectory $wd -NoNewWindow -PassThru `
	-RedirectStandardInput "$share\stdin" -RedirectStandardOutput "$share\stdout" -RedirectStandardError "$share\stderr"
$p.WaitForExit()
foreach ($l in $links) { (Get-Item -LiteralPath $l).Delete() }
foreach ($d in $drives) { net.exe use $d /delete /y | Out-Null }
exit $p.ExitCode
