"""A minimal QMP and guest-agent client, for the benches' own baselines
(QEMU started by the bench, not by osrun)."""
import base64, json, socket, time


class Chan:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.buf = b""
        for _ in range(500):
            try:
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.01)

    def send(self, cmd, args=None, raw=b""):
        m = {"execute": cmd}
        if args:
            m["arguments"] = args
        self.s.sendall(raw + json.dumps(m).encode() + b"\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def recv(self):
        while True:
            line = self.line().lstrip(b"\xff")
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if "event" not in m and "QMP" not in m:
                return m

    def call(self, cmd, args=None):
        self.send(cmd, args)
        return self.recv()


def agent_sync(path, timeout=120):
    """0xFF + guest-sync-delimited with a new id per try; only the reply to
    the latest try counts (earlier tries may be answered late)."""
    g = Chan(path)
    deadline = time.monotonic() + timeout
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        g.s.settimeout(1)
        g.send("guest-sync-delimited", {"id": 1000 + attempt}, raw=b"\xff")
        try:
            while True:
                if g.recv().get("return") == 1000 + attempt:
                    g.s.settimeout(300)
                    return g
        except socket.timeout:
            continue
    raise SystemExit("bench: agent never answered")


def agent_call(g, cmd, args=None):
    """The reply's "return"; an agent error ends the bench, naming it."""
    r = g.call(cmd, args)
    if "return" not in r:
        raise SystemExit(f"bench: the guest agent's {cmd} failed: {r.get('error', r)}")
    return r["return"]


def agent_run(g, cmd, poll=0.005, check=False, timeout=None):
    """The command's stdout; with check, a non-zero exit ends the bench;
    past timeout seconds the bench ends too."""
    pid = agent_call(g, "guest-exec", {"path": "/bin/sh", "arg": ["-c", cmd], "capture-output": True})["pid"]
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        if deadline and time.monotonic() > deadline:
            raise SystemExit(f"bench: in the guest, {cmd!r} ran past {timeout} s")
        st = agent_call(g, "guest-exec-status", {"pid": pid})
        if st["exited"]:
            out = base64.b64decode(st.get("out-data", ""))
            if check and st.get("exitcode") != 0:
                err = base64.b64decode(st.get("err-data", "")).decode(errors="replace")
                raise SystemExit(f"bench: in the guest, {cmd!r} exited {st.get('exitcode')}: {err[-600:]}")
            return out
        time.sleep(poll)


def agent_put(g, path, data, chunk=48 << 10):
    """Writes data to path in the guest through guest-file-*."""
    h = agent_call(g, "guest-file-open", {"path": path, "mode": "wb"})
    try:
        for i in range(0, len(data), chunk):
            part = data[i:i + chunk]
            n = agent_call(g, "guest-file-write", {"handle": h, "buf-b64": base64.b64encode(part).decode()})["count"]
            if n != len(part):
                raise SystemExit(f"bench: the guest agent wrote {n} of {len(part)} bytes to {path}")
    finally:
        agent_call(g, "guest-file-close", {"handle": h})
