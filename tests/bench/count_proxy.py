#!/usr/bin/env python3
"""A counting reverse proxy for the side-by-side benchmark: forwards every request to an AWS endpoint
(moto) and counts calls by `service:Operation`, as aws-sim's request log does. Serves the counts as JSON
on GET /_counts and clears them on POST /_counts/reset.

Usage: count_proxy.py LISTEN_PORT UPSTREAM_URL
"""

import json
import sys
import threading
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = Counter()
LOCK = threading.Lock()
UPSTREAM = sys.argv[2].rstrip("/")


def operation(headers, body):
    """`service:Operation` from a query-protocol body (Action=) or a JSON target header."""
    target = headers.get("X-Amz-Target")
    if target:
        service, _, op = target.partition(".")
        return f"{service.split('_')[0].lower()}:{op}"
    auth = headers.get("Authorization", "")
    service = auth.split("/")[3] if auth.count("/") >= 4 else "unknown"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return f"{service}:{form.get('Action', ['unknown'])[0]}"


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_counts"):
            with LOCK:
                if self.command == "POST":
                    COUNTS.clear()
                out = json.dumps(dict(COUNTS)).encode()
            return self.reply(200, [("Content-Type", "application/json")], out)
        if not self.path.startswith("/moto-api"):
            with LOCK:
                COUNTS[operation(self.headers, body)] += 1
        req = urllib.request.Request(UPSTREAM + self.path, data=body or None, method=self.command)
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "connection"):
                req.add_header(k, v)
        try:
            with urllib.request.urlopen(req) as r:
                self.reply(r.status, r.getheaders(), r.read())
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.headers.items(), e.read())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Proxy).serve_forever()
