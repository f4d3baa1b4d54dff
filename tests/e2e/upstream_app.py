"""A small shop backend for the end-to-end scenarios, run as a script in its own process.

    python upstream_app.py PORT CONTROL_FILE NAME [CERT KEY]

It answers every path (HTML pages, ``/api/cart`` JSON, ``/healthz``) from a thread per
connection; with ``CERT KEY`` (PEM files) it speaks HTTPS (TLS on every accepted connection,
the handshake in the connection's thread). The harness steers it through ``CONTROL_FILE``,
read on every request, one directive a line:

* missing or empty: answer at once;
* ``stall``: hold each request (short sleeps, re-reading the file) until the word is gone or
  ``STALL_MAX_S`` real seconds have passed, far past the proxy's ``proxy_read_timeout``;
* ``slow PATH_PREFIX SECONDS``: requests whose path starts with the prefix take that long
  (an expensive search page);
* ``fail PATH_PREFIX FRACTION [STATUS]``: that fraction of the requests whose path starts
  with the prefix get STATUS (500 by default): a background error trickle.

It runs in real time (no libfaketime): only Nginx's clock is compressed.
"""

from __future__ import annotations

import json
import random
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: The longest a stalled request is held, in real seconds (bounded loop).
STALL_MAX_S = 3.0
#: Sleep step while stalled or slow, in real seconds.
STEP_S = 0.02


def _control(path: Path) -> list[list[str]]:
    """The directives of the control file, one list of words per non-empty line."""
    try:
        text = path.read_text()
    except OSError:
        return []
    return [ln.split() for ln in text.splitlines() if ln.strip()]


def _stalled(path: Path) -> bool:
    return any(d[:1] == ["stall"] for d in _control(path))


class Handler(BaseHTTPRequestHandler):
    """The shop app: a page for every path, JSON for the cart API."""

    server_version = "shop-app/1.0"
    control = Path("/nonexistent")
    name = "app"
    rng = random.Random(7)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the scenarios read Nginx's logs, not the app's."""

    def _hold(self, directives: list[list[str]]) -> None:
        if any(d[:1] == ["stall"] for d in directives):
            deadline = time.monotonic() + STALL_MAX_S
            for _ in range(int(STALL_MAX_S / STEP_S) + 1):
                if time.monotonic() >= deadline or not _stalled(self.control):
                    break
                time.sleep(STEP_S)
            return
        for d in directives:
            if d[:1] == ["slow"] and len(d) == 3 and self.path.startswith(d[1]):
                time.sleep(min(float(d[2]), STALL_MAX_S))
                return

    def _failure(self, directives: list[list[str]]) -> int:
        for d in directives:
            if d[:1] == ["fail"] and len(d) in (3, 4) and self.path.startswith(d[1]):
                if self.rng.random() < float(d[2]):
                    return int(d[3]) if len(d) == 4 else 500
        return 0

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass  # the proxy gave up on us (timeout): nothing to answer to

    def do_GET(self) -> None:
        """Answer a page, the cart JSON or the health check."""
        directives = _control(self.control)
        self._hold(directives)
        failure = self._failure(directives)
        if failure:
            body = json.dumps({"error": "internal error", "server": self.name}).encode()
            self._send(failure, "application/json", body)
        elif self.path == "/healthz":
            self._send(200, "text/plain", b"ok\n")
        elif self.path.startswith("/api/"):
            body = json.dumps({"items": len(self.path) % 4, "server": self.name}).encode()
            self._send(200, "application/json", body)
        else:
            filler = ("<p>" + "shop " * 40 + "</p>\n") * (1 + len(self.path) % 7)
            body = (f"<!doctype html><title>{self.path}</title>\n{filler}").encode()
            self._send(200, "text/html; charset=utf-8", body)

    do_HEAD = do_GET


class Server(ThreadingHTTPServer):
    """Threaded, reusing the address (the app is killed and restarted on the same port)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        """A peer that went away (or refused our certificate) is normal here; stay quiet."""


def main(argv: list[str]) -> int:
    """Serve until killed."""
    port, control, name = int(argv[1]), Path(argv[2]), argv[3]
    Handler.control = control
    Handler.name = name
    with Server(("127.0.0.1", port), Handler) as srv:
        if len(argv) >= 6:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(argv[4], argv[5])
            # the handshake runs in the connection's thread, on its first read
            srv.socket = ctx.wrap_socket(
                srv.socket, server_side=True, do_handshake_on_connect=False
            )
        print(f"{name} listening on 127.0.0.1:{port}", flush=True)
        srv.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
