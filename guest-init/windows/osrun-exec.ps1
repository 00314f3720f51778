# Runs one osrun command (started by the guest agent as SYSTEM, with
# OSRUN_CMD, OSRUN_SHARE, OSRUN_RUN_ID and OSRUN_WORKDIR set). cmd.exe runs
# the command; its streams are files on the per-run share, which osrun
# follows live. Exits with the command's exit code. NOT RUN AGAINST REAL
# WINDOWS YET.
$share = $env:OSRUN_SHARE
$wd = if ($env:OSRUN_WORKDIR) { $env:OSRUN_WORKDIR } else { 'C:\' }
$cmd = $env:OSRUN_CMD
Remove-Item Env:OSRUN_CMD, Env:OSRUN_SHARE, Env:OSRUN_WORKDIR, Env:OSRUN_RUN_ID -ErrorAction SilentlyContinue
# /s /c "..." keeps the command line as given, quotes included.
$p = Start-Process -FilePath cmd.exe -ArgumentList "/d /s /c `"$cmd`"" -WorkingDirectory $wd -NoNewWindow -PassThru `
	-RedirectStandardInput "$share\stdin" -RedirectStandardOutput "$share\stdout" -RedirectStandardError "$share\stderr"
$p.WaitForExit()
exit $p.ExitCode
