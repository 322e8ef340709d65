#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A token server for docker-registry's token auth, for tests only.

Implements distribution's docs/spec/auth/token.md: GET /token?service=&scope=
answers {"token", "access_token", "expires_in"} with an RS256 JWT whose header
carries the signing certificate as "x5c" (the registry checks the chain
against its rootcertbundle). Anonymous requests get pull access; requests
with Basic credentials must match --user/--password (else 401) and get what
they ask for. GET /count answers the number of tokens issued so far.

Standard library only; the key and certificate are made with the openssl CLI
in --dir (key.pem, cert.pem), and the listening port is written to
--dir/port once the server is ready.
"""
import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key_and_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "2", "-subj", "/CN=bothy-test-token-issuer"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         check=True, stdout=subprocess.PIPE).stdout
    return key, base64.b64encode(der).decode()


def sign(key, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                          check=True, stdout=subprocess.PIPE).stdout


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/count":
            return self.reply(200, {"count": srv.count})
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no"}]})

        user = ""
        auth = self.headers.get("Authorization")
        if auth:
            scheme, _, cred = auth.partition(" ")
            try:
                u, _, p = base64.b64decode(cred).decode().partition(":")
            except Exception:
                u, p = None, None
            if scheme.lower() != "basic" or u != srv.user or p != srv.password:
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "bad credentials"}]},
                                  [("WWW-Authenticate", 'Basic realm="token"')])
            user = u

        q = urllib.parse.parse_qs(url.query)
        access = []
        for scope in q.get("scope", []):
            for one in scope.split(" "):
                typ, _, rest = one.partition(":")
                name, _, actions = rest.rpartition(":")
                want = [a for a in actions.split(",") if a]
                if not user:
                    want = [a for a in want if a == "pull"]
                access.append({"type": typ, "name": name, "actions": want})

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [srv.x5c]}
        claims = {"iss": srv.issuer, "sub": user, "aud": q.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        token = signing_input + "." + b64url(sign(srv.key, signing_input.encode()))
        srv.count += 1
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--issuer", default="test-issuer")
    args = ap.parse_args()

    key, x5c = make_key_and_cert(args.dir)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.key, srv.x5c, srv.count = key, x5c, 0
    srv.user, srv.password, srv.issuer = args.user, args.password, args.issuer
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
