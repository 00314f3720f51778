# Drops the SMB connections to the run's share before a snapshot is saved:
# a restored guest must never hold a session from the run that saved it.
# NOT RUN AGAINST REAL WINDOWS YET.
# Best effort: a connection already gone is what is wanted.
$ErrorActionPreference = 'Continue'
net.exe use * /delete /y 2>$null | Out-Null
Get-SmbConnection -ErrorAction SilentlyContinue | ForEach-Object {
	net.exe use "\\$($_.ServerName)\$($_.ShareName)" /delete /y 2>$null | Out-Null
}
exit 0
