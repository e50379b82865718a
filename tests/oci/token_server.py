#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A registry token service (Docker's token authentication) for tests/oci/auth_token.sh.

token_server.py PORT CERT KEY SIGNING_KEY ISSUER USER PASSWORD LOG

Serves GET /token over https on 127.0.0.1:PORT (CERT, KEY). With Basic credentials USER and
PASSWORD it grants what the scope parameters ask for; without credentials it grants nothing (a
token with no access, as public registries do for repositories that are not public); with
other credentials it answers 401. Tokens are RS256 JWTs signed with SIGNING_KEY (PEM), whose
certificate is the registry's rootcertbundle; their "kid" is the key's libtrust ID, which the
registry looks up among that bundle's keys. One line per request goes to LOG:
"STATUS user|anonymous|refused scope=...", and every token issued to LOG.tokens (so the test
can look for them in acfetch's output). Tokens live 300 s, or the seconds written in
LOG.expires when that file exists.
"""
import base64
import hashlib
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives import serialization

port, cert, key, signing, issuer, user, password, log = sys.argv[1:9]
with open(signing, "rb") as f:
    signing_key = serialization.load_pem_private_key(f.read(), password=None)
spki = signing_key.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
# libtrust's key ID: base32 of the first 240 bits of the SHA-256 of the DER public key, in
# groups of four.
b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode().rstrip("=")
kid = ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))
lock = threading.Lock()


def note(line, token=None):
    with lock:
        with open(log, "a") as f:
            f.write(line + "\n")
        if token:
            with open(log + ".tokens", "a") as f:
                f.write(token + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, doc, headers=()):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = query.get("scope", [])
        if url.path != "/token":
            self.answer(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        who = "anonymous"
        auth = self.headers.get("Authorization", "")
        if auth:
            ok = False
            if auth.startswith("Basic "):
                try:
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    ok = u == user and p == password
                except ValueError:
                    pass
            if not ok:
                note("401 refused scope=%s" % " ".join(scopes))
                self.answer(401, {"errors": [{"code": "UNAUTHORIZED",
                                              "message": "authentication failed"}]},
                            [("WWW-Authenticate", 'Basic realm="token"')])
                return
            who = user
        access = []
        if who != "anonymous":
            for s in scopes:
                kind, _, rest = s.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name,
                               "actions": [a for a in actions.split(",") if a]})
        now = int(time.time())
        try:
            with open(log + ".expires") as f:
                expires = int(f.read())
        except FileNotFoundError:
            expires = 300
        claims = {"iss": issuer, "sub": who if who != "anonymous" else "",
                  "aud": query.get("service", [""])[0], "exp": now + expires, "nbf": now - 10,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        token = jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": kid})
        note("200 %s scope=%s" % (who, " ".join(scopes)), token)
        self.answer(200, {"token": token, "expires_in": expires,
                          "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", int(port)), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
