#!/usr/bin/env python3
"""Prints the first thing a VNC server says through a noVNC page's
websocket (RFC 6455 handshake, websockify's default /websockify path):
"RFB 003.008" when websockify reaches QEMU's VNC socket."""
import base64, os, socket, struct, sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /websockify HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: binary\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("connection closed during the handshake")
    buf += d
head, _, rest = buf.partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/1.1 101"):
    sys.exit("no upgrade: " + head.decode(errors="replace").splitlines()[0])
while len(rest) < 2:
    rest += s.recv(4096)
n = rest[1] & 0x7F
hdr = 2 + (2 if n == 126 else 8 if n == 127 else 0)
while len(rest) < hdr:
    rest += s.recv(4096)
if n >= 126:
    n = struct.unpack(">H" if n == 126 else ">Q", rest[2:hdr])[0]
while len(rest) < hdr + n:
    rest += s.recv(4096)
print(rest[hdr:hdr + n].decode(errors="replace").strip())
