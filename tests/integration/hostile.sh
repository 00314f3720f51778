# Sourced by run.sh: the guest as an adversary (issue 11). It runs whatever
# a CI job brings, so it must not reach the host's loopback, fill the host's
# disk, or leave files osrun cannot remove.

# web_start [ADDR]: an HTTP service on ADDR, by default the host's 127.0.0.1
# (the kind a guest must not reach: other runs' debug ports, databases,
# Docker APIs), serving /marker; $web_port, $web_pid, requests in
# $T/web.log.
web_start() {
	web_addr=${1:-127.0.0.1}
	mkdir -p "$T/www" && echo host-secret >"$T/www/marker" && : >"$T/web.log"
	web_port=$(free_port)
	python3 -m http.server "$web_port" --bind "$web_addr" --directory "$T/www" >"$T/web.log" 2>&1 &
	web_pid=$!
	i=0; while ! python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' \
		"$web_addr" "$web_port" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
}
web_stop() { kill "$web_pid" 2>/dev/null; wait "$web_pid" 2>/dev/null; }

# A UDP listener on $1 that appends what it gets to $T/udp.log: $udp_port.
udp_start() {
	udp_port=$(free_port) && : >"$T/udp.log"
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[3], int(sys.argv[1])))
while True: open(sys.argv[2], "ab").write(s.recvfrom(512)[0])' "$udp_port" "$T/udp.log" "$1" &
	udp_pid=$!
}
udp_stop() { kill "$udp_pid"; wait "$udp_pid" 2>/dev/null; }
# The guest's probes at $1: TCP (wget of the web server's marker) and UDP
# (tftp's first datagram, to the UDP listener).
net_probe() {
	echo "timeout 10 wget -q -O - http://$1:$web_port/marker; echo wget=\$?; cd /tmp && timeout 3 tftp -g -r udp-probe $1 $udp_port"
}

t_network_default_no_host_loopback() {
	web_start
	# busybox wget -T crashes in the test guest; timeout bounds it instead.
	o "echo share-works; timeout 5 wget -q -O - http://10.0.2.2:$web_port/marker; echo wget=\$?"
	expect_rc 0
	grep -q share-works "$T/out" || err "the run's share did not carry output: $(cat "$T/out")"
	grep -q host-secret "$T/out" && err "the guest read the host's 127.0.0.1 service under the default policy"
	grep -q 'wget=0' "$T/out" && err "wget succeeded: $(cat "$T/out")"
	grep -q 'GET /marker' "$T/web.log" && err "the host service got a request: $(cat "$T/web.log")"
	# DHCP still answers under restrict=on: Windows guests configure eth0 by it.
	o 'timeout 10 udhcpc -i eth0 -n -q -t 3 -s /bin/true 2>&1'
	expect_rc 0
	grep -q 'lease of 10.0.2.15 obtained' "$T/out" || err "no DHCP lease: $(cat "$T/out")"
	# internet: outbound, but not to the host's loopback, over TCP (wget)
	# or UDP (tftp's first datagram, caught by a listener on 127.0.0.1).
	udp_start 127.0.0.1
	probe=$(net_probe 10.0.2.2)
	o --network internet "$probe"
	grep -q host-secret "$T/out" && err "the guest read the host's 127.0.0.1 service under --network internet: $(cat "$T/out")"
	grep -q 'wget=1' "$T/out" || err "wget was not refused: $(cat "$T/out")"
	grep -q 'GET /marker' "$T/web.log" && err "the host service got a request: $(cat "$T/web.log")"
	grep -q udp-probe "$T/udp.log" && err "a UDP datagram reached the host's 127.0.0.1 under --network internet"
	# host: the opt-in does what its help says (the host's 127.0.0.1
	# included), which also shows the probes above would have arrived.
	o --network host "$probe"
	grep -q host-secret "$T/out" || err "--network host did not reach the host's 127.0.0.1: $(cat "$T/out")"
	grep -q udp-probe "$T/udp.log" || err "--network host: no UDP datagram arrived on the host's 127.0.0.1"
	udp_stop
	web_stop
	# Off the host's loopback, its own address: internet reaches it over
	# TCP and UDP, and the same probes under none (the default) reach
	# nothing: no packet leaves the guest but the shares'.
	if a=$(host_addr) && [ -n "$a" ]; then
		web_start "$a"
		udp_start "$a"
		probe=$(net_probe "$a")
		o "$probe"
		grep -q host-secret "$T/out" && err "under --network none the guest read a service on $a: $(cat "$T/out")"
		grep -q 'GET /marker' "$T/web.log" && err "under --network none a request reached $a: $(cat "$T/web.log")"
		grep -q udp-probe "$T/udp.log" && err "under --network none a UDP datagram reached $a"
		o --network internet "$probe"
		grep -q host-secret "$T/out" || err "--network internet did not reach $a: $(cat "$T/out")"
		grep -q udp-probe "$T/udp.log" || err "--network internet: no UDP datagram arrived on $a"
		udp_stop
		web_stop
	else
		skip "no address besides the loopback: what leaves the guest under none and internet is not checked"
	fi
	o --network everything true
	expect_rc 125
	expect_err_has "\-\-network 'everything': expected none, internet or host"
	one_line_err
}

# A QEMU that runs without the loopback guard is stopped, not used: here a
# wrapper that loads it into its shell and drops it for QEMU.
t_network_guard_not_loaded() {
	printf '#!/bin/sh\nunset LD_PRELOAD\nexec qemu-system-x86_64 "$@"\n' >"$T/qemu-noguard"
	chmod +x "$T/qemu-noguard"
	OSRUN_QEMU="$T/qemu-noguard" o --network internet 'echo never'
	expect_rc 125
	expect_err_has "QEMU started without osrun's loopback guard"
	one_line_err
	grep -q never "$T/out" && err "the command ran without the guard"
	OSRUN_NETGUARD="$T/no-such-guard.so" o --network internet 'echo never'
	expect_rc 125
	expect_err_has "loopback guard '$T/no-such-guard.so' (reinstall osrun): No such file or directory"
	one_line_err
	# The same wrapper is fine where no guard is asked for.
	OSRUN_QEMU="$T/qemu-noguard" o --network host 'echo fine'
	expect_rc 0
	expect_out fine
}

# The guest's view of the run's share: the one directory osrun-guest mounted.
SHARE_DIR='m=$(ls -d /run/osrun/*/ | head -1)'

t_guest_fills_share() {
	t0=$(now)
	o --share-limit 20 "$SHARE_DIR; dd if=/dev/urandom of=\$m/junk bs=1M count=40 2>/dev/null; sleep 30; echo survived"
	expect_rc 125
	expect_err_has "the guest put more in the run's share than it may (--share-limit 20 MiB"
	one_line_err
	grep -q survived "$T/out" && err "the run went on past its share limit"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 25) }')" = 1 ] || err "took $(elapsed "$t0") s to stop"
	# A sparse stdout costs the guest nothing: osrun must not pass on
	# terabytes of zeros.
	t0=$(now)
	o "$SHARE_DIR; echo start; truncate -s 1099511627776 \$m/stdout; echo end"
	expect_rc 125
	expect_err_has "the guest put more in the run's share than it may"
	[ "$(wc -c <"$T/out")" -lt 100000000 ] || err "passed on $(wc -c <"$T/out") bytes"
	# Deeper than a run's share ever is.
	o "$SHARE_DIR; cd \$m && for i in \$(seq 60); do mkdir d && cd d || exit 9; done; sleep 30; echo survived"
	expect_rc 125
	expect_err_has "directory levels"
	# Output passed on costs no disk: a 60 MB stream through a 20 MiB limit.
	o --share-limit 20 'head -c 60000000 /dev/zero'
	expect_rc 0
	[ "$(wc -c <"$T/out")" = 60000000 ] || err "got $(wc -c <"$T/out") bytes of 60000000"
}

# --timeout and SIGTERM while osrun's stdout is a pipe nobody reads.
t_blocked_stdout() {
	rm -f "$T/rc"
	t0=$(now)
	( "$OSRUN" -t 3 'cat /dev/zero' 2>"$T/err" </dev/null; echo $? >"$T/rc" ) | sleep 40 &
	i=0; while [ ! -s "$T/rc" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
	rc=$(cat "$T/rc" 2>/dev/null)
	expect_rc 124
	expect_err_has "command timed out after 3.0 s"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 20) }')" = 1 ] || err "--timeout 3 took $(elapsed "$t0") s"
	pkill -f 'sleep 40'; wait
	rm -f "$T/rc"
	( "$OSRUN" 'cat /dev/zero' 2>"$T/err" </dev/null; echo $? >"$T/rc" ) | sleep 40 &
	i=0; while ! pgrep -f "qemu-system.*$TMPDIR/" >/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	sleep 3
	pkill -TERM -f "^$OSRUN cat /dev/zero"
	t0=$(now)
	i=0; while [ ! -s "$T/rc" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
	rc=$(cat "$T/rc" 2>/dev/null)
	expect_rc 143
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 10) }')" = 1 ] || err "SIGTERM took $(elapsed "$t0") s"
	pkill -f 'sleep 40'; wait
	return 0
}

# --- faults ----------------------------------------------------------------
# Each: a clear one-line error, exit 125, nothing left, the store intact.

# Waits until $1 appears in $T/out (osrun running in the background).
wait_out() { i=0; while ! grep -q "$1" "$T/out" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; }

t_smbd_killed_mid_run() {
	o_bg 'for i in $(seq 10); do echo line $i; sleep 0.3; done'
	wait_out 'line 2'
	pkill -KILL -f "smbd.*$TMPDIR/" || err "no smbd to kill"
	wait $pid; rc=$?
	# Its writes after that may or may not have reached the new smbd: an
	# exit status of 0 would claim they did.
	expect_rc 125
	# The command may have ended before osrun noticed (then its status is
	# said), or its helper may hang on the dead share (then the run ends
	# at once: before session 10 it waited for ever).
	expect_err_has "osrun's SMB server ended while the command ran"
	expect_err_has "its output may be incomplete"
	one_line_err
}

t_agent_stopped_mid_command() {
	t0=$(now)
	o 'echo stopping; kill -STOP $(pidof qemu-ga); sleep 120'
	expect_rc 125
	expect_err_has "the guest agent stopped answering while the command ran"
	one_line_err
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 60) }')" = 1 ] || err "took $(elapsed "$t0") s"
}

# A host so loaded that QEMU gets no CPU for longer than osrun's bounds on
# the agent (10 s a call; --agent-timeout 5): QEMU stopped 14 s, once while
# the command runs, once while the clone warms up (a share helper that
# takes 3 s holds the window open). The runs are slower, not failed: the
# bounds count only the time QEMU could run (runclock.h).
qemu_pause() {
	qpid=$(pgrep -f "qemu-system.*$TMPDIR/")
	kill -STOP $qpid
	grep -q "command started" "$T/err" && [ "$1" = warm-up ] && err "the command had started: the warm-up was not stopped"
	sleep 14
	kill -CONT $qpid 2>/dev/null
}

t_qemu_stopped_while_busy() {
	o_bg 'echo started; sleep 2; echo done'
	wait_started
	qemu_pause command
	wait $pid; rc=$?
	expect_rc 0
	expect_out "started
done"
	# The helper's mount verb made slow: a wrapper renamed over the helper
	# (the running one keeps its inode), the real one beside it.
	o -n slowmount 'cd /usr/lib/osrun && cp osrun-guest osrun-guest.real &&
		printf "#!/bin/sh\n[ \"\$1\" = mount ] && sleep 3\nexec /usr/lib/osrun/osrun-guest.real \"\$@\"\n" >g.new &&
		chmod 755 g.new && mv g.new osrun-guest'
	expect_rc 0
	o_bg -v -s slowmount --agent-timeout 5 'echo ran'
	i=0; while ! grep -q "restored 'slowmount'" "$T/err" && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done
	qemu_pause warm-up
	wait $pid; rc=$?
	expect_rc 0
	expect_out ran
	grep -q "share ready" "$T/err" || err "the share helper did not run: $(cat "$T/err")"
	o snapshot rm slowmount
}

# A command's own --timeout is wall time: a QEMU stopped for good ends
# the run at it (124), not after the agent's bound (125), and not never.
t_qemu_stopped_timeout_is_wall() {
	t0=$(now)
	o_bg -t 5 'echo started; sleep 60'
	wait_started
	qpid=$(pgrep -f "qemu-system.*$TMPDIR/")
	kill -STOP $qpid
	i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
	kill -0 $pid 2>/dev/null && err "osrun still runs 60 s after its 5 s timeout"
	kill -CONT $qpid 2>/dev/null
	wait $pid; rc=$?
	expect_rc 124
	expect_err_has "command timed out after 5.0 s"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 30) }')" = 1 ] || err "took $(elapsed "$t0") s"
}

t_qemu_killed_during_save() {
	o_bg -v -n halfsaved 'echo ran'
	i=0; while ! grep -q 'command ended' "$T/err" && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done
	# Frozen first, so that the save cannot finish before the kill; then
	# killed while osrun waits on it.
	qpid=$(pgrep -f "qemu-system.*$TMPDIR/")
	kill -STOP $qpid
	grep -q "saved snapshot" "$T/err" && err "the save ended before QEMU was frozen: the mid-save path was not exercised"
	sleep 1
	kill -KILL $qpid
	wait $pid; rc=$?
	expect_rc 125
	[ -e "$OSRUN_CACHE/snapshots/halfsaved" ] && err "a snapshot was left by a killed save"
	ls -A "$OSRUN_CACHE/snapshots" | grep -q '^\.' && err "half-written entries: $(ls -A "$OSRUN_CACHE/snapshots")"
	o snapshot rm halfsaved
	o -n halfsaved 'echo again'
	expect_rc 0
	o snapshot rm halfsaved
	expect_rc 0
}

# The store on a small filesystem of its own (tmpfs), filled up.
t_store_disk_full() {
	if [ "$(id -u)" != 0 ]; then skip "mounting a tmpfs needs root"; return 0; fi
	full="$T/full"
	mkdir -p "$full" && mount -t tmpfs -o size=420m,mode=0700 osrun-test "$full" || { err "cannot mount a tmpfs"; return 0; }
	OSRUN_CACHE="$full/store" o provision
	expect_rc 0
	avail=$(df -m --output=avail "$full" | tail -1)
	dd if=/dev/zero of="$full/junk" bs=1M count=$((avail - 40)) 2>/dev/null
	OSRUN_CACHE="$full/store" o -n layer 'echo layered'
	expect_rc 125
	expect_err_has "No space left on device"
	one_line_err
	[ -e "$full/store/snapshots/layer" ] && err "a snapshot was left on a full disk"
	ls -A "$full/store/snapshots" | grep -q '^\.' && err "half-written entries: $(ls -A "$full/store/snapshots")"
	OSRUN_CACHE="$full/store" o 'echo still fine'
	expect_rc 0
	expect_out "still fine"
	# provision on a full disk: refused with the reason, nothing half-made.
	OSRUN_CACHE="$full/store2" o provision
	expect_rc 125
	expect_err_has "No space left on device"
	[ -e "$full/store2/snapshots/provisioned" ] && err "provision left a snapshot on a full disk"
	ls -A "$full/store2/snapshots" "$full/store2/stages" "$full/store2/images" 2>/dev/null | grep -q '^\.' &&
		err "provision left half-written entries: $(ls -AR "$full/store2" | head -20)"
	umount "$full"
}

# The run directory (where a plain run's disk layer grows) on a small
# filesystem of its own: the guest fills its disk, QEMU stops the VM at
# the failed write, and osrun says so at once instead of waiting out the
# timeout.
t_guest_disk_full() {
	if [ "$(id -u)" != 0 ]; then skip "mounting a tmpfs needs root"; return 0; fi
	small="$T/small-tmp"
	mkdir -p "$small" && mount -t tmpfs -o size=40m,mode=0700 osrun-test "$small" || { err "cannot mount a tmpfs"; return 0; }
	t0=$(date +%s)
	TMPDIR="$small" o -t 200 'head -c 120000000 /dev/urandom >/data/big; sync; echo "wrote it all"'
	expect_rc 125
	expect_err_has "writing the guest's disk $small/osrun-run.*/disk.qcow2 failed: No space left on device; QEMU stopped the VM"
	one_line_err
	[ $(($(date +%s) - t0)) -lt 150 ] || err "took $(($(date +%s) - t0)) s: the stopped VM was waited on"
	grep -q "wrote it all" "$T/out" && err "the command seemed to finish"
	[ -z "$(ls -A "$small")" ] || err "left in the run directory's filesystem: $(ls -A "$small")"
	umount "$small"
}

# A tampered store entry: its disk names a disk outside the store as its
# backing file (a whole, working disk, so QEMU would boot from it). The run
# is refused before qemu-img or QEMU opens it, naming the entry.
t_tampered_backing_refused() {
	o -n tampered 'echo inside >/data/where; sync'
	expect_rc 0
	d="$OSRUN_CACHE/snapshots/tampered"
	qemu-img convert -O qcow2 "$OSRUN_CACHE/snapshots/provisioned/disk.qcow2" "$T/outside.qcow2" &&
		qemu-img rebase -u -F qcow2 -b "$T/outside.qcow2" "$d/disk.qcow2" || err "cannot tamper with the disk"
	o -s tampered 'cat /data/where'
	expect_rc 125
	expect_err_has "snapshots/tampered/disk.qcow2 names a backing file the store did not give it"
	one_line_err
	# Put back as osrun made it, the same entry runs.
	qemu-img rebase -u -F qcow2 -b ../provisioned/disk.qcow2 "$d/disk.qcow2" || err "cannot mend the disk"
	o -s tampered 'cat /data/where'
	expect_rc 0
	expect_out inside
	o snapshot rm tampered
}

ALL_HOSTILE="t_tampered_backing_refused t_guest_disk_full t_smbd_killed_mid_run t_agent_stopped_mid_command t_qemu_stopped_while_busy t_qemu_stopped_timeout_is_wall t_qemu_killed_during_save t_store_disk_full t_network_default_no_host_loopback t_network_guard_not_loaded t_guest_fills_share t_blocked_stdout"
