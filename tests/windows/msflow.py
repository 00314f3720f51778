#!/usr/bin/env python3
"""A stand-in for Microsoft's download flow and Fedora's virtio-win location,
on 127.0.0.1 over HTTPS, for tests/windows/fetch.sh. It answers the paths and
with the shapes the public clients rely on (recorded facts, not Microsoft's
own documentation):

- vlscppe.microsoft.com/tags?org_id=y6jn8c31&session_id=S registers a session,
  and ov-df.microsoft.com/mdt.js?instanceId=...&PageId=si&session_id=S gives a
  script with "w=HEX" and 'rticks="+DIGITS', echoed back to ov-df.microsoft.com/
  ?session_id=S&CustomerId=...&w=..&mdt=..&rticks=..
  (dockur/windows src/mido.sh efe47da, downloadWindowsLink; pbatard/Fido
  Fido.ps1 3d47260, Get-Windows-Languages).
- www.microsoft.com/software-download-connector/api/
  getskuinformationbyproductedition?profile=606624d44113&ProductEditionId=N..
  &sessionID=S answers {"Skus": [{"Id", "Language", ...}]}, and
  GetProductDownloadLinksBySku?profile=..&SKU=ID..&sessionID=S answers
  {"ProductDownloadOptions": [{"Uri", "DownloadType": 1 for x64}]}, or when
  Microsoft refuses {"Errors": [{"Type": 9, "Value": "Sentinel marked this
  request as rejected."}]} (Fido: Errors[0].Type 9 is code 715-123130;
  mido.sh greps the Sentinel sentence).
- www.microsoft.com/en-us/evalcenter/download-windows-server-2025: an HTML page
  with go.microsoft.com/fwlink/?linkid=..&amp;culture=en-us&amp;country=us
  links, which redirect to the ISO (mido.sh downloadWindowsEval).
- fedorapeople.org/groups/virt/virtio-win/direct-downloads/stable-virtio/
  virtio-win.iso redirects to the versioned file.

osrun reaches it through --mirror/OSRUN_ISO_MIRROR, which keeps the paths.
Behaviour is set by a JSON control file read at each request:
  refuse: the links request gets the Sentinel refusal ("unable": the other
          sentence mido.sh takes for a refusal)
  forbid: every download answers 403
  truncate: the next download sends half the file, then closes (once)
  slow: downloads send 64 KiB every 50 ms
  skuid: the English SKU's Id (a hostile one)
Every request goes to the log as "METHOD PATH range=RANGE".

usage: msflow.py CERT KEY ROOT CONTROL LOG PORTFILE
"""
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, ROOT, CONTROL, LOG, PORTFILE = sys.argv[1:7]
PROFILE = "606624d44113"
ORG_ID = "y6jn8c31"
TOKEN = "0a1b2c3d4e5f"
lock = threading.Lock()
sessions = {}  # id -> "tagged" | "challenged" | "ready"
state = {"truncated": False}

FILES = {
    "/dl/Win11_25H2_English_x64.iso": "win.iso",
    "/dl/26100.32230.260111-0550.lt_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso": "server.iso",
    "/dl/virtio-win-0.1.266.iso": "virtio.iso",
}


def control():
    try:
        with open(CONTROL) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", ctype="text/plain", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def base(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def do_GET(self):
        with open(LOG, "a") as f:
            f.write("GET %s range=%s\n" % (self.path, self.headers.get("Range", "-")))
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        route = {
            "/tags": self.tags,
            "/mdt.js": self.mdt,
            "/": self.ov_reply,
            "/software-download-connector/api/getskuinformationbyproductedition": self.skus,
            "/software-download-connector/api/GetProductDownloadLinksBySku": self.links,
            "/en-us/evalcenter/download-windows-server-2025": self.eval_page,
            "/fwlink/": self.fwlink,
            "/groups/virt/virtio-win/direct-downloads/stable-virtio/virtio-win.iso": self.virtio,
        }.get(u.path)
        if route:
            return route(q)
        if u.path in FILES:
            return self.download(os.path.join(ROOT, FILES[u.path]))
        self.send(404, b"not found")

    def session_step(self, q, need, then):
        sid = q.get("session_id") or q.get("sessionID") or ""
        with lock:
            if not re.fullmatch(r"[0-9a-f-]{36}", sid) or sessions.get(sid) != need:
                return False
            sessions[sid] = then
        return True

    def tags(self, q):
        sid = q.get("session_id", "")
        if q.get("org_id") != ORG_ID or not re.fullmatch(r"[0-9a-f-]{36}", sid):
            return self.send(400, b"bad tag request")
        with lock:
            sessions[sid] = "tagged"
        self.send(200, b"")

    def mdt(self, q):
        if not self.session_step(q, "tagged", "challenged"):
            return self.send(400, b"no session")
        js = 'var u="https://ov-df.microsoft.com/?w=%s&x=1";var rticks="+638000000000000000";' % TOKEN
        self.send(200, js.encode(), "application/javascript")

    def ov_reply(self, q):
        if q.get("w") != TOKEN or not q.get("rticks", "").isdigit() or not q.get("mdt", "").isdigit():
            return self.send(400, b"bad ov reply")
        if not self.session_step(q, "challenged", "ready"):
            return self.send(400, b"no session")
        self.send(200, b"")

    def connector_ok(self, q):
        sid = q.get("sessionID", "")
        return q.get("profile") == PROFILE and sessions.get(sid) == "ready"

    def skus(self, q):
        if not self.connector_ok(q) or q.get("ProductEditionId") != "3321":
            return self.send(200, json.dumps({"Errors": [{"Type": 1, "Value": "bad request"}]}).encode(),
                             "application/json")
        body = {"Skus": [
            {"Id": control().get("skuid", "19251"), "Language": "English", "LocalizedLanguage": "English", "Description": "Windows 11"},
            {"Id": "19252", "Language": "German", "LocalizedLanguage": "Deutsch", "Description": "Windows 11"},
        ]}
        self.send(200, json.dumps(body).encode(), "application/json")

    def links(self, q):
        refuse = control().get("refuse")
        if refuse == "unable":
            # Only the sentence is recorded (mido.sh greps it), not the shape
            # around it.
            body = {"Errors": [{"Type": 0, "Value": "We are unable to complete your request at this time."}]}
            return self.send(200, json.dumps(body).encode(), "application/json")
        if refuse:
            body = {"Errors": [{"Key": "ErrorSettings.SentinelReject", "Type": 9,
                                "Value": "Sentinel marked this request as rejected."}]}
            return self.send(200, json.dumps(body).encode(), "application/json")
        if not self.connector_ok(q) or q.get("SKU") != "19251":
            return self.send(200, json.dumps({"Errors": [{"Type": 1, "Value": "bad sku"}]}).encode(),
                             "application/json")
        body = {"ProductDownloadOptions": [
            {"Uri": self.base() + "/dl/Win11_25H2_ARM64.iso?t=sig", "DownloadType": 2},
            {"Uri": self.base() + "/dl/Win11_25H2_English_x64.iso?t=sig&e=1", "DownloadType": 1},
        ]}
        self.send(200, json.dumps(body).encode(), "application/json")

    def eval_page(self, q):
        page = ('<html><a href="https://go.microsoft.com/fwlink/?linkid=2293312&amp;clcid=0x409&amp;'
                'culture=en-us&amp;country=us">ISO 64-bit</a>'
                '<a href="https://go.microsoft.com/fwlink/?linkid=2293313&amp;clcid=0x407&amp;'
                'culture=de-de&amp;country=de">ISO 64-bit</a>'
                '<a href="https://go.microsoft.com/fwlink/?linkid=2293314&amp;clcid=0x409&amp;'
                'culture=en-us&amp;country=us">VHD</a></html>')
        self.send(200, page.encode(), "text/html")

    def fwlink(self, q):
        if q.get("linkid") != "2293312":
            return self.send(404, b"wrong link")
        name = "26100.32230.260111-0550.lt_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso"
        self.send(302, b"", headers={"Location": self.base() + "/dl/" + name})

    def virtio(self, q):
        self.send(302, b"", headers={"Location": self.base() + "/dl/virtio-win-0.1.266.iso"})

    def download(self, path):
        c = control()
        if c.get("forbid"):
            return self.send(403, b"Forbidden")
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m:
            start = int(m.group(1))
            if start >= len(data):
                return self.send(416, b"", headers={"Content-Range": "bytes */%d" % len(data)})
        self.send_response(206 if m else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if m:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        end = len(data)
        with lock:
            if c.get("truncate") and not state["truncated"]:
                state["truncated"] = True
                end = start + (len(data) - start) // 2
        for off in range(start, end, 65536):
            self.wfile.write(data[off:min(off + 65536, end)])
            if c.get("slow"):
                time.sleep(0.05)
        if end < len(data):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that went away mid-file (the Ctrl-C test) is expected


server = Server(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
