# Build stage "cleanup": make the disk small before it becomes the image
# every run layers on. NOT RUN AGAINST REAL WINDOWS YET.
# Each step only saves space: one that fails is no reason to fail the build.
$ErrorActionPreference = 'Continue'
"cleanup: component store (DISM /StartComponentCleanup /ResetBase)"
Dism.exe /Online /Cleanup-Image /StartComponentCleanup /ResetBase /Quiet | Out-Null
"cleanup: compact OS"
compact.exe /CompactOS:always | Out-Null
"cleanup: retrim"
Optimize-Volume -DriveLetter C -ReTrim -ErrorAction SilentlyContinue
exit 0
