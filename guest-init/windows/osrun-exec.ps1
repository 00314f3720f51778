# Runs one osrun command. The guest agent starts it as SYSTEM with no
# environment of its own (so it has the agent's, the machine's) and without
# captured output (runner/run.c says why). The request comes from the run's
# share, \\10.0.2.4\qemu\request.json, and the result goes back there as
# "result": "exit CODE" with the command's exact 32-bit exit code, or
# "error TEXT" when the command could not be run (runner/lib/request.h).
# Exits 0 once a result is written, 2 when the share never answered, 1 when
# even the error could not be written: the host then says so.
# With "user" in the request (osrun --user) it starts itself again, with
# -AsUser, as the logged-on user on that user's desktop (a scheduled task
# with an interactive principal), and that copy runs the command and writes
# the result. SYSTEM is the default: it needs no logon session or profile.
# NOT RUN AGAINST REAL WINDOWS YET.
param([switch]$AsUser)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0
$share = '\\10.0.2.4\qemu'
$utf8 = New-Object System.Text.UTF8Encoding $false

# osrun's SMB server starts with QEMU, and after a restore the first SMB
# connection may take a while (the SMB client's caches are off: configure.ps1).
$deadline = [DateTime]::UtcNow.AddSeconds(60)
while (-not (Test-Path -LiteralPath "$share\request.json")) {
	if ([DateTime]::UtcNow -gt $deadline) { exit 2 }
	Start-Sleep -Milliseconds 250
}

function Write-Result([string]$line) {
	[System.IO.File]::WriteAllText("$share\result.new", "$line`r`n", $utf8)
	Move-Item -LiteralPath "$share\result.new" -Destination "$share\result" -Force
}

# The agent's environment is the one its service got at the boot that made
# the snapshot: what an install since then (a -n layer) put in the machine's
# environment is read again from the registry, as Chocolatey's
# Update-SessionEnvironment does (Machine, then User; Path is both joined).
function Update-Environment {
	foreach ($scope in 'Machine', 'User') {
		$vars = [Environment]::GetEnvironmentVariables($scope)
		foreach ($name in $vars.Keys) {
			if ($name -ne 'Path') { [Environment]::SetEnvironmentVariable($name, $vars[$name], 'Process') }
		}
	}
	$paths = @([Environment]::GetEnvironmentVariable('Path', 'Machine'), [Environment]::GetEnvironmentVariable('Path', 'User'))
	$env:Path = ($paths | Where-Object { $_ }) -join ';'
}

# Volumes: "X:" becomes a drive letter of this logon session, which the
# command inherits; any other path a directory symbolic link to the UNC path
# (local-to-remote links are evaluated by default: Microsoft's "fsutil
# behavior" SymlinkEvaluation). Read-only is the server's rule.
function Connect-Volume($vol, [ref]$drives, [ref]$links) {
	$unc = "\\10.0.2.4\$($vol.share)"
	if ($vol.path -match '^[A-Za-z]:$') {
		net.exe use $vol.path $unc /persistent:no | Out-Null
		if ($LASTEXITCODE -ne 0) { throw "net use $($vol.path) $unc failed with status $LASTEXITCODE" }
		$drives.Value += $vol.path
	} else {
		New-Item -ItemType Directory -Force -Path (Split-Path -Parent $vol.path) | Out-Null
		New-Item -ItemType SymbolicLink -Path $vol.path -Target $unc | Out-Null
		$links.Value += $vol.path
	}
}

# Task Scheduler starts a task whose principal has LogonType Interactive
# only in that user's session, on its desktop (Microsoft's
# TASK_LOGON_INTERACTIVE_TOKEN). The copy it starts writes the result; this
# one waits for it, and says why when there is none.
function Invoke-AsUser {
	$user = (Get-CimInstance Win32_ComputerSystem).UserName
	if (-not $user) { throw 'nobody is logged on to the console: --user needs the auto-logon session' }
	$name = 'osrun-' + [guid]::NewGuid().ToString('N')
	$ps = "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe"
	$action = New-ScheduledTaskAction -Execute $ps `
		-Argument "-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$PSCommandPath`" -AsUser"
	$principal = New-ScheduledTaskPrincipal -UserId $user -LogonType Interactive -RunLevel Highest
	# No time limit (PT0S): osrun's --timeout is the limit.
	$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries `
		-DontStopIfGoingOnBatteries -MultipleInstances Parallel
	Register-ScheduledTask -TaskName $name -Action $action -Principal $principal -Settings $settings | Out-Null
	try {
		Start-ScheduledTask -TaskName $name
		# 0x41301: running; 0x41303: has not run yet (Microsoft's Task
		# Scheduler error and success constants).
		do {
			Start-Sleep -Milliseconds 250
			$info = Get-ScheduledTaskInfo -TaskName $name
		} while (-not (Test-Path -LiteralPath "$share\result") -and
			($info.LastTaskResult -eq 0x41301 -or $info.LastTaskResult -eq 0x41303))
		if (-not (Test-Path -LiteralPath "$share\result")) {
			throw ('the command as {0} ended without a result (task result 0x{1:X8})' -f $user, $info.LastTaskResult)
		}
	} finally {
		Unregister-ScheduledTask -TaskName $name -Confirm:$false -ErrorAction SilentlyContinue
	}
}

$drives = @(); $links = @(); $script = $null
try {
	$req = [System.IO.File]::ReadAllText("$share\request.json", $utf8) | ConvertFrom-Json
	if ($req.version -ne 1) { throw "request version $($req.version) is not one this helper knows (1)" }
	if ($req.user -and -not $AsUser) {
		Invoke-AsUser
		exit 0
	}
	# A task's process gets its user's environment as it is now; the
	# agent's is the one of the boot that made the snapshot.
	if (-not $AsUser) { Update-Environment }
	# Names are case-insensitive; osrun sent each once.
	foreach ($v in $req.env) { [Environment]::SetEnvironmentVariable($v.name, $v.value, 'Process') }
	foreach ($vol in $req.volumes) { Connect-Volume $vol ([ref]$drives) ([ref]$links) }
	if (-not (Test-Path -LiteralPath $req.workdir -PathType Container)) {
		throw "working directory $($req.workdir) does not exist in the guest"
	}
	# cmd /c runs a command line up to its first line feed and 8191
	# characters: longer ones and several lines come as a batch file, which
	# cmd reads again line by line as it runs, so it is copied here first.
	if ($req.script) {
		$script = Join-Path $env:SystemRoot ('Temp\osrun-' + [guid]::NewGuid().ToString('N') + '.cmd')
		Copy-Item -LiteralPath "$share\command.cmd" -Destination $script
		$line = "`"$script`""
	} else {
		$line = $req.command
	}
	# /s /c "...": cmd drops the outer quotes and keeps the line as given.
	$p = Start-Process -FilePath "$env:SystemRoot\System32\cmd.exe" -ArgumentList "/d /s /c `"$line`"" `
		-WorkingDirectory $req.workdir -NoNewWindow -PassThru `
		-RedirectStandardInput "$share\stdin" -RedirectStandardOutput "$share\stdout" -RedirectStandardError "$share\stderr"
	# Windows PowerShell gives a $null ExitCode for a process started this
	# way unless its handle was taken while it ran (PowerShell issues #5421,
	# #20400): reading .Handle keeps the process object's handle open.
	$null = $p.Handle
	# osrun-kill.ps1 ends this process's tree when a session's command is
	# interrupted.
	[System.IO.File]::WriteAllText('C:\osrun\command.pid', [string]$p.Id)
	$p.WaitForExit()
	$code = $p.ExitCode
	if ($null -eq $code) { throw 'the command ended but Windows gave no exit code for it' }
	# ExitCode is an Int32: 0xC0000005 comes as -1073741819.
	Write-Result ('exit {0}' -f [BitConverter]::ToUInt32([BitConverter]::GetBytes([int]$code), 0))
} catch {
	$why = $_.Exception.Message -replace '[\r\n]+', ' '
	try { Write-Result "error $why" } catch { exit 1 }
} finally {
	# Nothing the run made is left for a -n snapshot: no link to a share
	# that is gone.
	foreach ($l in $links) { (Get-Item -LiteralPath $l).Delete() }
	foreach ($d in $drives) { net.exe use $d /delete /y | Out-Null }
	if ($script) { Remove-Item -LiteralPath $script -Force -ErrorAction SilentlyContinue }
	Remove-Item -LiteralPath 'C:\osrun\command.pid' -Force -ErrorAction SilentlyContinue
}
exit 0
