# osrun as a container; on an empty cache the first run fetches Windows 11
# and builds its image (OSRUN_GUEST=windows; docs/windows.md):
#   docker run --rm --device=/dev/kvm -e OSRUN_GUEST=windows -v $PWD/cache:/cache osrun 'dir C:\'
# Build arguments: BASE (the Debian base image), WITH_TEST_GUEST=1 (include
# the Linux test guest: a first run on an empty /cache provisions it), WITH_NOVNC=1
# (noVNC and websockify for --novnc; they bring Node.js and NumPy along).
ARG BASE=debian:bookworm-slim
ARG WITH_TEST_GUEST=0
ARG WITH_NOVNC=0

FROM ${BASE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make pkg-config libjson-c-dev \
    libxml2-dev libwim-dev libarchive-dev libcurl4-openssl-dev libssl-dev libnbd-dev ntfs-3g-dev libzstd-dev \
    && rm -rf /var/lib/apt/lists/*
COPY Makefile /src/
COPY runner /src/runner
COPY snapshots /src/snapshots
COPY iso-builder /src/iso-builder
COPY guest-init/linux/osrun-guest /src/guest-init/linux/osrun-guest
WORKDIR /src
RUN make build/osrun build/osrun-netguard.so build/osrun-guest OSRUN_GUEST_DEFAULT=/usr/local/share/osrun/guest \
    OSRUN_DEBIAN_DEFAULT=/usr/local/share/osrun/debian \
    OSRUN_WINDOWS_DEFAULT=/usr/local/share/osrun/guest-init/windows \
    OSRUN_NETGUARD_DEFAULT=/usr/local/lib/osrun/osrun-netguard.so

# The Windows guest's helper, cross-built with mingw-w64; only the .exe
# reaches the final image (it goes onto the setup medium).
FROM ${BASE} AS winhelper
RUN apt-get update && apt-get install -y --no-install-recommends gcc-mingw-w64-x86-64 make \
    && rm -rf /var/lib/apt/lists/*
COPY Makefile /src/
COPY runner/lib/request.h /src/runner/lib/
COPY guest-init/windows/osrun-guest /src/guest-init/windows/osrun-guest
WORKDIR /src
RUN make guest-init/windows/osrun-guest.exe

# The test guest is built from Debian packages like on a host.
FROM ${BASE} AS guest-1
RUN apt-get update && apt-get install -y --no-install-recommends busybox-static qemu-guest-agent kmod cpio \
    e2fsprogs qemu-utils gzip git
COPY guest-init/linux /src/guest-init/linux
COPY --from=build /src/build/osrun-guest /src/osrun-guest
RUN sh /src/guest-init/linux/build.sh /out/guest /src/osrun-guest && rm -f /out/guest/*.deb

FROM ${BASE} AS guest-0
RUN mkdir -p /out

FROM guest-${WITH_TEST_GUEST} AS guest

FROM ${BASE}
ARG WITH_NOVNC
# wimtools and xorriso are for the Windows image builder; libnss-wrapper gives
# QEMU a user name under `docker run --user UID:GID` (no passwd entry);
# qemu-utils' qemu-nbd, libnbd0 and libntfs-3g89 read a failed stage's disk;
# skopeo and libzstd1 push and pull snapshots (docs/registry.md); libcurl4
# and ca-certificates fetch ISOs (osrun image fetch).
RUN apt-get update && apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils samba libjson-c5 \
    libxml2 libwim15 libarchive13 libssl3 libnbd0 libntfs-3g89 libnss-wrapper wimtools xorriso \
    skopeo libzstd1 libcurl4 ca-certificates \
    $(if [ "$WITH_NOVNC" = 1 ]; then echo novnc websockify; fi) \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/osrun /usr/local/bin/osrun
COPY --from=build /src/build/osrun-netguard.so /usr/local/lib/osrun/osrun-netguard.so
COPY --from=guest /out /usr/local/share/osrun
COPY guest-init /usr/local/share/osrun/guest-init
COPY --from=winhelper /src/guest-init/windows/osrun-guest.exe /usr/local/share/osrun/guest-init/windows/osrun-guest.exe
ENV OSRUN_CACHE=/cache OSRUN_GUEST_DIR=/usr/local/share/osrun/guest
VOLUME /cache
# No shell in between: signals reach osrun, which tears the VM down.
ENTRYPOINT ["/usr/local/bin/osrun"]
