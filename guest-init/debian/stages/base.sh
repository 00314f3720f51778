# Build stage "base" of the Debian guest, run by osrun-stage.service on the
# first boot of the debootstrapped disk. Every line it prints is a status
# line osrun shows; it must exit 0 for the stage to count as done.
set -e
# multi-user.target is reached (the unit runs after it); the boot itself
# ends with this unit, so is-system-running --wait would wait for itself.
systemctl --failed --no-legend --plain | sed 's/^/failed unit: /'
mkdir -p /var/lib/osrun
echo base >/var/lib/osrun/stages
echo "base laid out"
