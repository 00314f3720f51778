# osrun. `make` builds osrun and the Linux test guest; `make check` runs the
# unit tests (under ASan/UBSan), the Windows image builder's offline tests and
# the integration tests on real QEMU.
#   make DEVELOPER=1   warnings are errors
#   make SANITIZE=address,undefined
#   make check KEEP=1  keep the integration tests' temporary directory

CC ?= cc
PKG_CONFIG ?= pkg-config
BUILD ?= build
GUEST_DIR := $(abspath $(BUILD)/guest)
# Where provision looks for the test guest when OSRUN_GUEST_DIR is unset.
OSRUN_GUEST_DEFAULT ?= $(GUEST_DIR)
DEBIAN_DIR := $(abspath $(BUILD)/debian)
# Where provision debian looks for the Debian guest when OSRUN_DEBIAN_DIR is unset.
OSRUN_DEBIAN_DEFAULT ?= $(DEBIAN_DIR)
# Where image build finds the Windows guest-init scripts.
OSRUN_WINDOWS_DEFAULT ?= $(abspath guest-init/windows)
# The loopback guard QEMU preloads under --network internet.
NETGUARD := $(BUILD)/osrun-netguard.so
OSRUN_NETGUARD_DEFAULT ?= $(abspath $(NETGUARD))

# wimlib's .pc names private deps (ntfs-3g, fuse) that static linking
# would need; -lwim is all a dynamic link needs.
# Expanded when a compiler runs, not when make reads this file: `make deps
# demo` on a fresh machine installs the libraries first.
# libnbd and libntfs-3g read a failed build stage's disk (runner/lib/diskfiles.c).
JSONC_CFLAGS = $(shell $(PKG_CONFIG) --cflags json-c libxml-2.0 libarchive libcrypto libnbd libntfs-3g libzstd libcurl)
JSONC_LIBS = $(shell $(PKG_CONFIG) --libs json-c libxml-2.0 libarchive libcrypto libnbd libntfs-3g libzstd libcurl) -lwim

CFLAGS ?= -O2 -g
# The commit osrun is built from, for `osrun selftest`'s report (none
# outside a git checkout).
OSRUN_COMMIT ?= $(shell git describe --always --dirty 2>/dev/null)
BASE_CFLAGS = -std=c11 -pipe -include runner/lib/banned.h $(JSONC_CFLAGS) \
	-DOSRUN_GUEST_DIR='"$(OSRUN_GUEST_DEFAULT)"' \
	-DOSRUN_DEBIAN_DIR='"$(OSRUN_DEBIAN_DEFAULT)"' -DOSRUN_WINDOWS_DIR='"$(OSRUN_WINDOWS_DEFAULT)"' \
	-DOSRUN_NETGUARD='"$(OSRUN_NETGUARD_DEFAULT)"' -DOSRUN_COMMIT='"$(OSRUN_COMMIT)"'
DEV_CFLAGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	-Wpointer-arith -Wvla -Wimplicit-fallthrough -Wno-unused-parameter
ifeq ($(DEVELOPER),1)
BASE_CFLAGS += $(DEV_CFLAGS)
else
BASE_CFLAGS += -Wall
endif
ifneq ($(SANITIZE),)
BASE_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Libraries (protocols, processes, the store, the Windows medium) and the
# command layer with the engines it calls.
LIB_SRC := $(wildcard runner/lib/*.c snapshots/*.c iso-builder/*.c)
ENGINE_SRC := runner/plan.c runner/run.c runner/follow.c runner/copy.c runner/volume.c runner/pool.c runner/session.c runner/serve.c runner/pool-keeper.c runner/session-keeper.c runner/inventory.c runner/gitlab.c runner/job.c runner/build.c runner/evidence.c runner/final.c runner/layers.c runner/buildstate.c \
	runner/selftest.c runner/selftest-checks.c runner/selftest-runs.c runner/selftest-exec.c runner/selftest-judge.c \
	runner/selftest-report.c runner/provision.c runner/firstrun.c runner/doctor.c runner/doctor-host.c runner/doctor-store.c runner/registry.c \
	runner/registry-use.c runner/hostinfo.c runner/labels.c runner/budget.c \
	runner/isofetch.c runner/isofetch-flow.c runner/image.c runner/image-fetch.c
CMD_SRC := runner/osrun.c runner/options.c $(wildcard runner/cmd-*.c) $(ENGINE_SRC)
HDRS := $(wildcard runner/*.h runner/lib/*.h snapshots/*.h iso-builder/*.h)

# The Windows guest's helper (mingw-w64), built beside the scripts that
# go on the setup medium with it (OSRUN_WINDOWS_DIR). It includes the
# host's request.h: what both sides share is plain C.
MINGW_CC ?= x86_64-w64-mingw32-gcc
GUEST_EXE := guest-init/windows/osrun-guest.exe
GUEST_EXE_SRC := $(wildcard guest-init/windows/osrun-guest/*.c)
GUEST_EXE_HDRS := $(wildcard guest-init/windows/osrun-guest/*.h) runner/lib/request.h
GUEST_EXE_CFLAGS = -std=c11 -municode -O2 -Irunner/lib -D_WIN32_WINNT=0x0A00 -DUNICODE \
	$(if $(filter 1,$(DEVELOPER)),$(DEV_CFLAGS),-Wall)
GUEST_EXE_LIBS := -luserenv -lwtsapi32 -lmpr -lnetapi32

.PHONY: all install install-test deps demo guest debian-guest check-real check check-load layout unit fuzz fuzz-short valgrind integration fleet-check windows-offline windows-wine image-test bench bench-io bench-ci bench-layers bench-registry bench-real soak clean format

all: $(BUILD)/osrun $(NETGUARD) guest $(GUEST_EXE)

$(GUEST_EXE): $(GUEST_EXE_SRC) $(GUEST_EXE_HDRS)
	$(MINGW_CC) $(GUEST_EXE_CFLAGS) -o $@ $(GUEST_EXE_SRC) $(GUEST_EXE_LIBS)

$(BUILD)/osrun: $(CMD_SRC) $(LIB_SRC) $(HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -pthread -o $@ $(CMD_SRC) $(LIB_SRC) $(LDFLAGS) $(JSONC_LIBS)

# Its own object: a preload, linked into nothing (it replaces connect()).
$(NETGUARD): runner/netguard/netguard.c runner/lib/netguard.h runner/lib/util.h
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -pipe -O2 -g $(if $(filter 1,$(DEVELOPER)),$(DEV_CFLAGS),-Wall) -shared -fPIC -o $@ $<

# make install [PREFIX=/usr/local] [DESTDIR=]: osrun built for where it is
# installed (its default guest, Windows scripts and guard are under
# PREFIX), the guard and the GitLab driver in PREFIX/lib/osrun, guest-init
# (with the built osrun-guest that build.sh puts in the guest; the Debian
# guest's build.sh, which the installed osrun looks for the guest it builds
# in PREFIX/share/osrun/debian) and the test guest (when built) in
# PREFIX/share/osrun, the man page.
PREFIX ?= /usr/local
OSRUN_LIBDIR = $(PREFIX)/lib/osrun
OSRUN_SHAREDIR = $(PREFIX)/share/osrun
install: $(GUEST_EXE)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/install OSRUN_GUEST_DEFAULT=$(OSRUN_SHAREDIR)/guest \
		OSRUN_DEBIAN_DEFAULT=$(OSRUN_SHAREDIR)/debian OSRUN_WINDOWS_DEFAULT=$(OSRUN_SHAREDIR)/guest-init/windows \
		OSRUN_NETGUARD_DEFAULT=$(OSRUN_LIBDIR)/osrun-netguard.so $(BUILD)/install/osrun $(BUILD)/install/osrun-netguard.so \
		$(BUILD)/install/osrun-guest
	install -D -m 0755 $(BUILD)/install/osrun $(DESTDIR)$(PREFIX)/bin/osrun
	install -D -m 0644 $(BUILD)/install/osrun-netguard.so $(DESTDIR)$(OSRUN_LIBDIR)/osrun-netguard.so
	install -D -m 0755 contrib/gitlab-runner/osrun-driver $(DESTDIR)$(OSRUN_LIBDIR)/osrun-driver
	install -D -m 0644 docs/osrun.1 $(DESTDIR)$(PREFIX)/share/man/man1/osrun.1
	install -d $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/windows $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/linux/stages
	install -m 0644 guest-init/windows/*.ps1 $(GUEST_EXE) $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/windows/
	install -m 0755 guest-init/linux/build.sh guest-init/linux/init $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/linux/
	install -m 0755 $(BUILD)/install/osrun-guest $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/linux/
	install -m 0755 guest-init/linux/stages/*.sh $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/linux/stages/
	cp -R guest-init/debian $(DESTDIR)$(OSRUN_SHAREDIR)/guest-init/
	if [ -f $(GUEST_DIR)/initrd.img ]; then \
		install -d $(DESTDIR)$(OSRUN_SHAREDIR)/guest/stages && \
		install -m 0644 $(GUEST_DIR)/vmlinuz $(GUEST_DIR)/initrd.img $(GUEST_DIR)/disk.qcow2 \
			$(GUEST_DIR)/kernel-version $(DESTDIR)$(OSRUN_SHAREDIR)/guest/ && \
		install -m 0755 $(GUEST_DIR)/stages/*.sh $(DESTDIR)$(OSRUN_SHAREDIR)/guest/stages/; fi

deps:
	sh tests/deps.sh

# The README's first command: provision the test guest once, then run on it.
demo: $(BUILD)/osrun $(NETGUARD) guest
	@$(BUILD)/osrun snapshot inspect provisioned >/dev/null 2>&1 || $(BUILD)/osrun provision
	$(BUILD)/osrun 'uname -a; echo "hello from the guest" >&2; exit 3'; echo "exit code: $$?"

# The Linux guest's helper (exec, mount, kill, copy, detach): static, so
# that it runs in any Linux guest whatever its libc.
GUEST_HELPER := $(BUILD)/osrun-guest
GUEST_HELPER_SRC := $(wildcard guest-init/linux/osrun-guest/*.c)
$(GUEST_HELPER): $(GUEST_HELPER_SRC) $(wildcard guest-init/linux/osrun-guest/*.h) runner/lib/request.h runner/lib/util.h \
		runner/lib/banned.h
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -pipe -O2 -include runner/lib/banned.h $(if $(filter 1,$(DEVELOPER)),$(DEV_CFLAGS),-Wall) \
		-static -s -pthread -o $@ $(GUEST_HELPER_SRC)

# The test guest: a Debian kernel, busybox and qemu-ga in an initramfs.
guest: $(GUEST_DIR)/initrd.img
$(GUEST_DIR)/initrd.img: guest-init/linux/build.sh guest-init/linux/init $(GUEST_HELPER) $(wildcard guest-init/linux/stages/*.sh)
	sh guest-init/linux/build.sh $(GUEST_DIR) $(abspath $(GUEST_HELPER))

# The Debian guest (bookworm, systemd) from Debian packages, by debootstrap
# (root, network): not in `all`; build.sh does nothing when its inputs are
# unchanged, and keeps the downloaded .debs in $(DEBIAN_DIR)/debs.
debian-guest: $(GUEST_HELPER)
	sh guest-init/debian/build.sh $(DEBIAN_DIR) $(abspath $(GUEST_HELPER))

# Unit tests: one program per module, always with the sanitizers.
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test-*.c))
UNIT_CFLAGS = $(BASE_CFLAGS) $(DEV_CFLAGS) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -Irunner
# Everything but main(), so that engines and the options parser are testable.
UNIT_SRC := $(LIB_SRC) $(ENGINE_SRC) runner/options.c
$(BUILD)/unit/%: tests/unit/%.c tests/unit/tap.h $(UNIT_SRC) $(HDRS)
	@mkdir -p $(BUILD)/unit
	@$(CC) $(UNIT_CFLAGS) -o $@ $< $(UNIT_SRC) -fsanitize=address,undefined -pthread $(JSONC_LIBS)

# test-netguard includes the preload's source.
$(BUILD)/unit/test-netguard $(BUILD)/valgrind/test-netguard: runner/netguard/netguard.c

unit: $(UNIT_TESTS)
	@sh tests/run-unit.sh $(UNIT_TESTS)

# libFuzzer targets (clang) for what the guest or another local user
# controls: make fuzz FUZZ_TIME=SECONDS each (check runs them briefly).
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_TIME ?= 60
FUZZ_CFLAGS = $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Irunner
$(BUILD)/fuzz/%: tests/fuzz/%.c $(UNIT_SRC) $(HDRS)
	@mkdir -p $(BUILD)/fuzz
	@clang $(FUZZ_CFLAGS) -o $@ $< $(UNIT_SRC) -pthread $(JSONC_LIBS)

fuzz: $(FUZZ_TARGETS)
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-short: $(FUZZ_TARGETS)
	@sh tests/fuzz/run.sh 10 $(FUZZ_TARGETS)

# The unit tests under valgrind's memcheck (built without the sanitizers,
# which valgrind cannot run with): zero errors, no definite leaks.
VALGRIND_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/valgrind/%,$(wildcard tests/unit/test-*.c))
$(BUILD)/valgrind/%: tests/unit/%.c tests/unit/tap.h $(UNIT_SRC) $(HDRS)
	@mkdir -p $(BUILD)/valgrind
	@$(CC) $(BASE_CFLAGS) $(DEV_CFLAGS) -O1 -g -Irunner -o $@ $< $(UNIT_SRC) -pthread $(JSONC_LIBS)

valgrind: $(VALGRIND_TESTS)
	@sh tests/run-unit.sh --valgrind $(VALGRIND_TESTS)

integration: $(BUILD)/osrun $(NETGUARD) guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) sh tests/integration/run.sh

# The fleet files in contrib/ (docs/fleet.md): they parse, and every osrun
# command line in them passes the built osrun's option parser. No
# scheduler runs here.
fleet-check: $(BUILD)/osrun
	OSRUN=$(abspath $(BUILD)/osrun) python3 tests/fleet/check.py

# The Windows image builder, offline: a synthetic Windows-layout ISO.
windows-offline: $(BUILD)/osrun $(GUEST_EXE)
	OSRUN=$(abspath $(BUILD)/osrun) sh tests/windows/run.sh
	OSRUN=$(abspath $(BUILD)/osrun) sh tests/windows/fetch.sh

# The Windows helper run under wine64, against shares written and read by
# the host's own code (wine-run links runner/lib).
$(BUILD)/wine-run: tests/windows/wine-run.c $(LIB_SRC) $(HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(BASE_CFLAGS) $(DEV_CFLAGS) -O1 -g -Irunner -o $@ $< $(LIB_SRC) -pthread $(JSONC_LIBS)
$(BUILD)/wine-tools.exe: tests/windows/wine-tools.c
	@mkdir -p $(BUILD)
	$(MINGW_CC) -std=c11 -municode -O2 $(DEV_CFLAGS) -o $@ $<
windows-wine: $(GUEST_EXE) $(BUILD)/wine-run $(BUILD)/wine-tools.exe
	OSRUN_GUEST_EXE=$(abspath $(GUEST_EXE)) WINE_RUN=$(abspath $(BUILD)/wine-run) \
		WINE_TOOLS=$(abspath $(BUILD)/wine-tools.exe) sh tests/windows/wine.sh

# The house plan (tests/layout.sh) and the format, then the suites.
layout:
	@sh tests/layout.sh
	@sh tests/layout.sh --self-test

# make install into a scratch DESTDIR, and what the installed osrun says.
install-test:
	@sh tests/install.sh

check: layout install-test unit fuzz-short fleet-check windows-offline windows-wine integration

# The Debian guest built (debootstrap from Debian's mirror, ~2 min cold),
# provisioned and run (~5 min more on TCG): .ci/run runs it after check.
check-real: $(BUILD)/osrun $(NETGUARD) guest debian-guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) OSRUN_DEBIAN_DIR=$(DEBIAN_DIR) \
		sh tests/integration/run.sh real

image-test:
	sh tests/image/run.sh

bench: $(BUILD)/osrun $(NETGUARD) guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) python3 bench/restore.py $(BENCH_ARGS)

bench-ci: $(BUILD)/osrun $(NETGUARD) guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) python3 bench/ci_job.py $(BENCH_ARGS)

# Not in CI: make check N times in a row with both cores kept busy.
N ?= 10
check-load:
	sh tests/under-load.sh $(N)

# Not in CI: a few hundred jobs, plain and pooled, clients killed at random.
soak: $(BUILD)/osrun $(NETGUARD) guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) python3 bench/soak.py $(SOAK_ARGS)

bench-layers: $(BUILD)/osrun $(NETGUARD) guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) python3 bench/layers.py $(BENCH_ARGS)

# Not in CI: push and pull of a 2 GiB-RAM snapshot through a local registry.
bench-registry: $(BUILD)/osrun $(NETGUARD) guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) python3 bench/registry.py $(BENCH_ARGS)

# Not in CI: the Debian guest against the test guest, and the real suites
# (make check-real's) on the host, through osrun, in a session, cold.
bench-real: $(BUILD)/osrun $(NETGUARD) guest debian-guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) OSRUN_DEBIAN_DIR=$(DEBIAN_DIR) \
		python3 bench/real.py $(BENCH_ARGS)

bench-io: $(BUILD)/osrun guest
	OSRUN=$(abspath $(BUILD)/osrun) OSRUN_GUEST_DIR=$(GUEST_DIR) python3 bench/throughput.py

FORMAT_SRC = $(wildcard runner/*.[ch] runner/lib/*.[ch] snapshots/*.[ch] iso-builder/*.[ch] tests/unit/*.[ch] \
	guest-init/linux/osrun-guest/*.[ch] guest-init/windows/osrun-guest/*.[ch] tests/windows/*.c)
format:
	clang-format -i $(FORMAT_SRC)

clean:
	rm -rf $(BUILD) $(GUEST_EXE)
