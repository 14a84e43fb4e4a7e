"""A threaded webhook receiver for end-to-end tests of the event mesh."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from interlink.errors import SignatureError
from interlink.events.signing import verify


def serve_in_thread(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures and answers ``status`` (settable)."""

    secret: str
    status: int = 204
    seen: Counter[str] = field(default_factory=Counter)  # deliveries by event id
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhook_ids: dict[str, set[str]] = field(default_factory=dict)  # by event id
    refused: int = 0
    bad: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verify(receiver.secret, headers, body)
                except SignatureError:
                    with receiver.lock:
                        receiver.bad += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver.lock:
                    status = receiver.status
                    if status < 300:
                        event = json.loads(body)
                        receiver.seen[event["id"]] += 1
                        receiver.events[event["id"]] = event
                        receiver.webhook_ids.setdefault(event["id"], set()).add(
                            headers["webhook-id"]
                        )
                    else:
                        receiver.refused += 1
                answer = b"" if status < 300 else b"warehouse down for maintenance"
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        return serve_in_thread(Handler)
