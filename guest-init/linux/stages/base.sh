# Build stage "base" of the Linux test guest. init runs it from the stage's
# share; every line it prints is a status line osrun shows, and it must exit
# 0 for the stage to count as done. The disk is mounted at /data.
set -e
echo "laying out /data"
mkdir -p /data/osrun /data/work
echo "base" >/data/osrun/stages
echo "base laid out"
