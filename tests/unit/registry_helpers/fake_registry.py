#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted registry for the behaviours docker-registry cannot show, for
tests/unit/test_registry.c only. Standard library only.

  /v2/redir/blobs/DIGEST  Bearer-protected (token "T" from /token); answers
                          307 to http://localhost:PORT/storage/blob, another
                          host, as object storage would be
  /storage/blob           the blob ("hello blob"); records the Authorization
                          header it received (it must receive none)
  /v2/flaky/manifests/x   429 (Retry-After: 0), then 503, then the manifest
  /v2/basic/manifests/x   Basic auth alice:s3cret, then the manifest
  /seen                   {"storage_auth": ..., "storage_hits", "flaky_hits",
                           "tokens"}

The listening port is written to --dir/port once ready.
"""
import argparse
import base64
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOB = b"hello blob"
MANIFEST = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {}, "layers": []}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=(), ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        s = self.server
        path = urllib.parse.urlsplit(self.path).path
        auth = self.headers.get("Authorization")
        port = s.server_address[1]
        if path == "/seen":
            return self.reply(200, json.dumps(s.seen).encode())
        if path == "/token":
            s.seen["tokens"] += 1
            return self.reply(200, json.dumps({"access_token": "T"}).encode())
        if path.startswith("/v2/redir/blobs/"):
            if auth != "Bearer T":
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                                  [("WWW-Authenticate",
                                    'Bearer realm="http://127.0.0.1:%d/token",'
                                    'service="fake",scope="repository:redir:pull"' % port)])
            return self.reply(307, b"", [("Location", "http://localhost:%d/storage/blob" % port)])
        if path == "/storage/blob":
            s.seen["storage_hits"] += 1
            s.seen["storage_auth"] = auth
            return self.reply(200, BLOB, ctype="application/octet-stream")
        if path == "/v2/flaky/manifests/x":
            s.seen["flaky_hits"] += 1
            n = s.seen["flaky_hits"]
            if n == 1:
                return self.reply(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow"}]}',
                                  [("Retry-After", "0")])
            if n == 2:
                return self.reply(503, b"busy", ctype="text/plain")
            return self.reply(200, MANIFEST, ctype="application/vnd.oci.image.manifest.v1+json")
        if path == "/v2/basic/manifests/x":
            want = "Basic " + base64.b64encode(b"alice:s3cret").decode()
            if auth != want:
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}',
                                  [("WWW-Authenticate", 'Basic realm="fake"')])
            return self.reply(200, MANIFEST, ctype="application/vnd.oci.image.manifest.v1+json")
        self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.seen = {"storage_auth": None, "storage_hits": 0, "flaky_hits": 0, "tokens": 0}
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(args.dir, "port"))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
