"""A newsroom's webhook endpoint on 127.0.0.1, checking every signature with an
independent implementation (the `standardwebhooks` package) and counting duplicates."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    message_id: str
    body: dict
    signature: str
    verified_with: list[str]


@dataclass
class Receiver:
    port: int = 0
    secrets: list[str] = field(default_factory=list)
    # What to answer, one per request, then 200: a status code, or "timeout", or "429:SECONDS".
    script: list = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    redirect_to: str | None = None  # answer every POST with a 307 to this URL
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/newsroom"

    def unique(self) -> dict[str, Received]:
        """Deliveries after dropping duplicates by webhook-id, as a receiver should."""
        return {item.message_id: item for item in self.received}

    def duplicates(self) -> int:
        return sum(count - 1 for count in Counter(r.message_id for r in self.received).values())

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                action = receiver.script.pop(0) if receiver.script else 200
                status, headers = action, {}
                if isinstance(action, str) and action.startswith("429:"):
                    status, headers = 429, {"Retry-After": action.split(":")[1]}
                if action in (200, "timeout"):  # processed; a slow one answers after the sender gave up
                    verified = [secret for secret in receiver.secrets
                                if _verifies(secret, body, self.headers)]
                    receiver.received.append(Received(self.headers["webhook-id"], json.loads(body),
                                                      self.headers["webhook-signature"], verified))
                if action == "timeout":
                    time.sleep(2)
                    status = 200
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _verifies(secret: str, body: bytes, headers) -> bool:
    try:
        Webhook(secret).verify(body, {name.lower(): value for name, value in headers.items()})
        return True
    except WebhookVerificationError:
        return False
