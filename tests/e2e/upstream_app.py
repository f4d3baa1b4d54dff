"""A small shop backend for the end-to-end scenarios, run as a script in its own process.

    python upstream_app.py PORT CONTROL_FILE NAME

It answers every path (HTML pages, ``/api/cart`` JSON, ``/healthz``) from a thread per
connection. The harness steers it through ``CONTROL_FILE``, read on every request:

* missing or empty: answer at once;
* ``stall``: hold each request (short sleeps, re-reading the file) until the word is gone or
  ``STALL_MAX_S`` real seconds have passed, far past the proxy's ``proxy_read_timeout``;
* ``slow PATH_PREFIX SECONDS``: requests whose path starts with the prefix take that long
  (an expensive search page).

It runs in real time (no libfaketime): only Nginx's clock is compressed.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: The longest a stalled request is held, in real seconds (bounded loop).
STALL_MAX_S = 3.0
#: Sleep step while stalled or slow, in real seconds.
STEP_S = 0.02


def _control(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


class Handler(BaseHTTPRequestHandler):
    """The shop app: a page for every path, JSON for the cart API."""

    server_version = "shop-app/1.0"
    control = Path("/nonexistent")
    name = "app"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the scenarios read Nginx's logs, not the app's."""

    def _hold(self) -> None:
        words = _control(self.control)
        if words[:1] == ["stall"]:
            deadline = time.monotonic() + STALL_MAX_S
            for _ in range(int(STALL_MAX_S / STEP_S) + 1):
                if time.monotonic() >= deadline or _control(self.control)[:1] != ["stall"]:
                    break
                time.sleep(STEP_S)
        elif words[:1] == ["slow"] and len(words) == 3 and self.path.startswith(words[1]):
            time.sleep(min(float(words[2]), STALL_MAX_S))

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
        self._hold()
        if self.path == "/healthz":
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
        """A peer that went away is normal here; stay quiet."""


def main(argv: list[str]) -> int:
    """Serve until killed."""
    port, control, name = int(argv[1]), Path(argv[2]), argv[3]
    Handler.control = control
    Handler.name = name
    with Server(("127.0.0.1", port), Handler) as srv:
        print(f"{name} listening on 127.0.0.1:{port}", flush=True)
        srv.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
