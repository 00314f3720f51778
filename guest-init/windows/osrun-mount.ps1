# Waits until the run's share answers, while osrun sets the guest's clock
# (the Windows counterpart of guest-init/linux/osrun-mount): after a restore
# the SMB client's first connection to osrun's smbd may take a while, and
# the command's helper then finds the share ready. Bounded: exits 1 with a
# message on stderr after 60 s. NOT RUN AGAINST REAL WINDOWS YET.
$ErrorActionPreference = 'Stop'
$share = '\\10.0.2.4\qemu'
$deadline = [DateTime]::UtcNow.AddSeconds(60)
while (-not (Test-Path -LiteralPath "$share\stdin")) {
	if ([DateTime]::UtcNow -gt $deadline) {
		[Console]::Error.WriteLine("the run's share $share did not answer within 60 s")
		exit 1
	}
	Start-Sleep -Milliseconds 100
}
exit 0
