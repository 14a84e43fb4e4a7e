"""A small identity provider on a loopback port, in a thread: OIDC discovery, a JWKS, token
introspection (RFC 7662) and a client credentials token endpoint, counting what it is asked."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


class Idp:
    def __init__(self, client_id: str = "gateway", client_secret: str = "s3cret") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwks: dict[str, Any] = {"keys": []}
        self.introspected: dict[str, dict[str, Any]] = {}  # token → the introspection answer
        self.issued: list[str] = []  # access tokens issued, in order
        self.token_lifetime = 3600
        self.hits: dict[str, int] = {}
        self.forms: list[dict[str, str]] = []
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.hits[self.path] = idp.hits.get(self.path, 0) + 1
                if self.path == "/.well-known/openid-configuration":
                    self.reply(200, {"issuer": idp.url, "jwks_uri": idp.url + "/keys"})
                elif self.path == "/keys":
                    self.reply(200, idp.jwks)
                else:
                    self.reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                idp.hits[self.path] = idp.hits.get(self.path, 0) + 1
                length = int(self.headers.get("content-length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                idp.forms.append(form)
                expected = base64.b64encode(f"{idp.client_id}:{idp.client_secret}".encode())
                if self.headers.get("authorization") != f"Basic {expected.decode()}":
                    self.reply(401, {"error": "invalid_client"})
                elif self.path == "/introspect":
                    self.reply(200, idp.introspected.get(form.get("token", ""), {"active": False}))
                elif self.path == "/token" and form.get("grant_type") == "client_credentials":
                    token = secrets.token_urlsafe(16)
                    idp.issued.append(token)
                    answer = {"access_token": token, "token_type": "Bearer"}
                    self.reply(200, {**answer, "expires_in": idp.token_lifetime})
                else:
                    self.reply(400, {"error": "invalid_request"})

            def reply(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def __enter__(self) -> Idp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
