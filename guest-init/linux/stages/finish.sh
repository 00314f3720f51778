# Build stage "finish" of the Linux test guest: records what the image was
# built from, as a Windows build's last stage leaves its log on C:\osrun.
set -e
echo "recording the build"
echo "finish" >>/data/osrun/stages
uname -r >/data/osrun/kernel
echo "build recorded"
