# Copies for --copy-in and --copy-out through a tar in the run's share
# (OSRUN_SHARE), with Windows' own tar.exe (bsdtar, in System32 since
# Windows 10 1803, per Microsoft's "tar" command reference). Same actions as
# the Linux helper's copy verb (guest-init/linux/osrun-guest/copy.c):
#   osrun-copy.ps1 in TAR dir|file GUEST NAME    osrun-copy.ps1 out TAR GUEST
# NOT RUN AGAINST REAL WINDOWS YET.
param([string]$Action, [string]$Tar, [string]$A, [string]$B, [string]$C)
$ErrorActionPreference = 'Stop'
$tarexe = Join-Path $env:SystemRoot 'System32\tar.exe'
$archive = Join-Path $env:OSRUN_SHARE $Tar
try {
	if ($Action -eq 'in') {
		$kind = $A; $dst = $B; $name = $C
		if (Test-Path -LiteralPath $dst -PathType Container) { $dst = Join-Path $dst $name }
		if ($kind -eq 'dir') {
			New-Item -ItemType Directory -Force -Path $dst | Out-Null
			& $tarexe -x -f $archive -C $dst
			exit $LASTEXITCODE
		}
		$parent = Split-Path -Parent $dst
		New-Item -ItemType Directory -Force -Path $parent | Out-Null
		$tmp = Join-Path $parent ('.osrun-copy.' + [guid]::NewGuid().ToString('N'))
		New-Item -ItemType Directory -Path $tmp | Out-Null
		try {
			& $tarexe -x -f $archive -C $tmp
			if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
			Move-Item -Force -LiteralPath (Join-Path $tmp $name) -Destination $dst
		} finally {
			Remove-Item -Recurse -Force -LiteralPath $tmp -ErrorAction SilentlyContinue
		}
		exit 0
	}
	if ($Action -eq 'out') {
		$src = $A.TrimEnd('\', '/')
		if (-not (Test-Path -LiteralPath $src)) {
			[Console]::Error.WriteLine("${src}: No such file or directory")
			exit 1
		}
		& $tarexe -c -f $archive -C (Split-Path -Parent $src) (Split-Path -Leaf $src)
		exit $LASTEXITCODE
	}
	[Console]::Error.WriteLine("osrun-copy: unknown action '$Action'")
	exit 2
} catch {
	[Console]::Error.WriteLine($_.Exception.Message)
	exit 1
}
