"""Harness for the end-to-end scenarios: a real Nginx, real upstreams, real clients.

Each scenario runs Nginx 1.22 in the foreground with its own prefix, config, pid file and
temp paths inside the test's temporary folder, listening on free 127.0.0.1 ports only (the
system's /etc/nginx and service are never touched). Upstreams are the small Python app in
``upstream_app.py``. Hundreds of users are real TCP clients, each bound to its own source
address in 127.0.0.0/8 (Linux routes the whole /8 to ``lo``), so Nginx logs genuinely
different ``$remote_addr``; a Blackbox-style probe checks ``/healthz`` every 15 seconds.

Time is compressed with libfaketime (``LD_PRELOAD``): every Nginx process (the master, its
forked workers and the ``nginx -s reload`` helper) starts with ``FAKETIME="<offset> x60"``
computed at spawn time, so one real second is one minute of log time and a 25-minute
incident story takes about 25 seconds. The ``env`` directives pass ``FAKETIME`` and
``LD_PRELOAD`` to the workers (Nginx clears their environment, and libfaketime re-reads the
variable every few seconds). libfaketime also scales ``CLOCK_MONOTONIC`` and the
``epoll_wait`` timeout, so ``proxy_read_timeout``, ``limit_req`` rates and ``keepalive_timeout``
all run in the same fake time. The clients and the app run in real time; the harness maps
real to fake time (``fake = start + 60 x elapsed``). To record client-side truth on exactly
the clock Nginx logs with, the edge adds ``X-E2E-Msec: $msec`` to every response it sends
(``add_header ... always``, also on its own 5xx pages); outcomes without a response
(refused, reset, timeout) use the harness clock, which agrees with Nginx's to ~0.3 s. Each
Nginx behind the edge adds ``X-E2E-Msec-<host>`` the same way, which the edge passes on:
every Nginx's clock starts a few real ms after its ``FAKETIME`` was set (x60, up to a
second of log time on a busy machine), so a host's offset is measured, never assumed.

Ground truth (``truth.json``, beside the ``logs/`` folder) is what the clients saw; an
Alertmanager webhook v4 export (``logs/alerts/webhook.jsonl``) is derived from the probe.
"""

from __future__ import annotations

import calendar
import glob
import gzip
import json
import math
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Alertmanager's fingerprint, as the bundled sample alerts compute it.
from sample_logs.generate import fingerprint

#: Set to 1 to skip the e2e scenarios when Nginx or libfaketime is missing (else they fail).
SKIP_ENV = "INCIDENT_TIMELINE_SKIP_E2E"
#: A folder: each scenario's logs/ and report/ are copied to FOLDER/<test>/ (to compare versions).
KEEP_ENV = "INCIDENT_TIMELINE_E2E_KEEP"
#: Path of libfaketime.so.1 when it is not in a standard place.
LIBFAKETIME_ENV = "INCIDENT_TIMELINE_LIBFAKETIME"
#: One real second is this many seconds of log time.
SPEED = 60.0
#: The fake time every scenario starts at (the seed incident's day).
FAKE_START = float(calendar.timegm((2023, 3, 20, 12, 0, 0)))
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SITE = "shop.example.com"
PROBE_ADDR = "127.0.50.50"
PROBE_UA = "Blackbox Exporter/0.23.0"
PROBE_EVERY_FAKE_S = 15.0
#: Response header carrying Nginx's own $msec (added by the edge's config).
CLOCK_HEADER = "x-e2e-msec"
#: ...and each Nginx behind the edge adds its own, ``X-E2E-Msec-<host>`` (the proxy passes
#: it on): every host's clock is measured, not assumed (see :meth:`Harness.host_clocks`).
HOST_CLOCK_PREFIX = CLOCK_HEADER + "-"
#: Client timeouts in real seconds: longer than any Nginx timeout used (<= 1 s real).
CONNECT_TIMEOUT_S = 1.5
READ_TIMEOUT_S = 4.0
#: A load thread skips request slots it is later than this (open-loop load, no catch-up).
MAX_LAG_S = 0.25
#: The harness and Nginx clocks must agree this well (fake seconds).
MAX_SKEW_S = 5.0
#: Every scenario result, for the terminal summary (tests/e2e/conftest.py).
RESULTS: list[dict[str, Any]] = []

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/111.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/111.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.3 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/111.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/110.0.0.0 Safari/537.36 Edg/110.0.1587.69",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/110.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/111.0.0.0 Safari/537.36",
)
SEARCHES = ("shoes", "red+dress", "laptop+bag", "gift", "socks", "rain+jacket", "mug")
#: (weight, path maker) of a shop visitor's requests.
PAGES: tuple[tuple[float, Callable[[random.Random], str]], ...] = (
    (14, lambda r: "/"),
    (30, lambda r: f"/products/{r.randint(1, 60)}"),
    (8, lambda r: f"/search?q={r.choice(SEARCHES)}"),
    (6, lambda r: "/cart"),
    (14, lambda r: "/api/cart"),
    (11, lambda r: "/static/app.3f9c1a7e.js"),
    (11, lambda r: "/static/style.b81d04c2.css"),
    (6, lambda r: "/favicon.ico"),
)
_PAGE_WEIGHTS = [w for w, _ in PAGES]

MAIN_FORMAT = (
    "'$remote_addr - $remote_user [$time_local] \"$request\" '\n"
    "                    '$status $body_bytes_sent \"$http_referer\" '\n"
    '                    \'"$http_user_agent" "$http_x_forwarded_for"\''
)
#: ``main`` plus timings (scenario 2): the current access parser accepts trailing fields.
TIMED_FORMAT = (
    MAIN_FORMAT[:-1] + " $request_time $upstream_addr $upstream_status $upstream_response_time'"
)
#: Nginx's JSON access log (``escape=json``): ``log_format main {JSON_FORMAT};``.
JSON_FORMAT = (
    'escape=json \'{"time":"$time_iso8601","remote_addr":"$remote_addr",'
    '"request":"$request","status":$status,"body_bytes_sent":$body_bytes_sent,'
    '"request_time":$request_time,"upstream_addr":"$upstream_addr",'
    '"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time",'
    '"http_referer":"$http_referer","http_user_agent":"$http_user_agent",'
    '"http_x_forwarded_for":"$http_x_forwarded_for"}\''
)


class E2EUnavailable(RuntimeError):
    """Nginx or libfaketime is missing: the e2e scenarios cannot run on this machine."""


# --------------------------------------------------------------------------------------
# Tools and clock
# --------------------------------------------------------------------------------------


def find_nginx() -> str | None:
    """The nginx binary: on PATH, else the usual sbin folders."""
    for cand in (
        shutil.which("nginx"),
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def find_libfaketime() -> str | None:
    """libfaketime.so.1 (the library behind the ``faketime`` wrapper)."""
    env = os.environ.get(LIBFAKETIME_ENV)
    if env:
        return env if os.path.exists(env) else None
    patterns = (
        "/usr/lib/*/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/lib64/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/*/faketime/libfaketime.so.1",
    )
    for pat in patterns:
        hits = sorted(glob.glob(pat))
        if hits:
            return hits[0]
    return None


def require_tools() -> tuple[str, str]:
    """(nginx, libfaketime) or :class:`E2EUnavailable` saying what to install."""
    nginx = find_nginx()
    lib = find_libfaketime()
    missing = []
    if nginx is None:
        missing.append("nginx (not on PATH nor in /usr/sbin; Debian: apt-get install nginx-light)")
    if lib is None:
        missing.append(
            "libfaketime.so.1 (Debian: apt-get install faketime; or set "
            f"{LIBFAKETIME_ENV}=/path/to/libfaketime.so.1)"
        )
    if missing:
        raise E2EUnavailable(
            "the e2e scenarios need " + " and ".join(missing) + f". Set {SKIP_ENV}=1 or run "
            "pytest -m 'not e2e' to leave them out."
        )
    assert nginx is not None and lib is not None
    return nginx, lib


@dataclass
class FakeClock:
    """Log time as Nginx sees it under libfaketime: ``fake0 + speed x (real - real0)``."""

    fake0: float = FAKE_START
    speed: float = SPEED
    real0: float = 0.0

    def start(self) -> None:
        """Fake time ``fake0`` is now."""
        self.real0 = time.time()

    def fake(self, real: float) -> float:
        """The fake time at real time ``real``."""
        return self.fake0 + self.speed * (real - self.real0)

    def now(self) -> float:
        """The fake time now."""
        return self.fake(time.time())

    def real(self, fake: float) -> float:
        """The real time at which the fake clock reads ``fake``."""
        return self.real0 + (fake - self.fake0) / self.speed

    def faketime_spec(self, ahead_s: float = 0.0) -> str:
        """``FAKETIME`` for a process spawned now: offset from real time, and the speed
        (a clock ``ahead_s`` fake seconds ahead of the others: a skewed host)."""
        now = time.time()
        return f"{self.fake(now) + ahead_s - now:+.3f} x{self.speed:g}"

    def sleep_until(self, fake: float) -> None:
        """Sleep (in short steps) until the fake clock reads ``fake``."""
        target = self.real(fake)
        for _ in range(int(max(0.0, target - time.time()) / 0.02) + 2):
            left = target - time.time()
            if left <= 0:
                return
            time.sleep(min(0.05, left))


def iso(ts: float) -> str:
    """``2023-03-20T12:10:00.123Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> float:
    """Epoch seconds of an ISO 8601 time with ``Z`` or an offset."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def rfc3339nano(ts: float) -> str:
    """Go's time.RFC3339Nano in UTC (trailing zeros of the fraction trimmed)."""
    ms = round(ts * 1000)  # Nginx's $msec has milliseconds; no float noise in the digits
    sec, nanos = ms // 1000, ms % 1000 * 1_000_000
    frac = f"{nanos:09d}".rstrip("0")
    return (
        datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{frac}" if frac else "")
        + "Z"
    )


# --------------------------------------------------------------------------------------
# Processes, ports
# --------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def accepts(port: int) -> bool:
    """A TCP connection to 127.0.0.1:port succeeds (closed at once, nothing sent)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def processes() -> list[tuple[int, str, int, int]]:
    """(pid, state, process group, session) of every process, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces: fields start after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        out.append((int(entry), fields[0], int(fields[2]), int(fields[3])))
    return out


def _proc_table() -> list[tuple[int, str, int]]:
    """(pid, state, process group) of every process."""
    return [(pid, state, pgrp) for pid, state, pgrp, _ in processes()]


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode(errors="replace")
            .strip()
        )
    except OSError:
        return "?"


class Processes:
    """Every process a scenario starts, each in its own process group, to be killed at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.groups: set[int] = set()

    def spawn(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        stdout_to: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a new session; stdout to ``stdout_to`` or ``log``, stderr to ``log``
        (both opened for append)."""
        err = open(log, "ab")  # handed to the child, closed below
        out = open(stdout_to, "ab") if stdout_to else err
        try:
            p = subprocess.Popen(
                list(argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                cwd=str(log.parent),
            )
        finally:
            err.close()
            if out is not err:
                out.close()
        self.procs.append(p)
        self.groups.add(p.pid)
        return p

    def kill(self, p: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process group of ``p`` and reap ``p``."""
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def kill_all(self) -> None:
        """Kill every group started (also the groups whose leader already exited)."""
        for p in self.procs:
            self.kill(p)

    def leftovers(self) -> list[str]:
        """Live (non-zombie) processes in any group this harness started."""
        return [
            f"{pid} {_cmdline(pid)}"
            for pid, state, pgrp in _proc_table()
            if pgrp in self.groups and state not in ("Z", "X")
        ]


def wait_for(
    cond: Callable[[], bool],
    what: str,
    timeout_s: float = 8.0,
    alive: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``cond`` every 20 ms until true; fail after ``timeout_s`` or when ``alive`` died."""
    deadline = time.time() + timeout_s
    for _ in range(int(timeout_s / 0.02) + 1):
        if cond():
            return
        if alive is not None and alive.poll() is not None:
            break
        if time.time() > deadline:
            break
        time.sleep(0.02)
    detail = ""
    if log is not None and log.exists():
        detail = "\n" + log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"timed out waiting for {what}{detail}")


# --------------------------------------------------------------------------------------
# Nginx and the app
# --------------------------------------------------------------------------------------


class Nginx:
    """One Nginx instance (one host of the story): prefix, config, logs, master process."""

    def __init__(self, h: Harness, host: str, port: int, tz: str = "UTC") -> None:
        self.h = h
        self.host = host
        self.port = port
        #: ``TZ`` of this host's Nginx: its error log is in this zone's local time, without
        #: an offset; its access log's ``$time_local`` carries the offset.
        self.tz = tz
        self.prefix = h.root / "nginx" / host
        self.log_dir = h.logs / host
        for sub in (
            "",
            "client_body_temp",
            "proxy_temp",
            "fastcgi_temp",
            "uwsgi_temp",
            "scgi_temp",
        ):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.prefix / "nginx.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        #: Seconds this host's (fake) clock runs ahead of the others' (a skewed backend).
        self.clock_ahead_s = 0.0

    @property
    def access_log(self) -> Path:
        """``logs/<host>/access.log``."""
        return self.log_dir / "access.log"

    @property
    def error_log(self) -> Path:
        """``logs/<host>/error.log``."""
        return self.log_dir / "error.log"

    def pieces(self, name: str) -> list[Path]:
        """``name`` and its rotated pieces (``name.1``, ``name.2.gz``, ...), oldest first."""

        def age(p: Path) -> int:
            rest = p.name[len(name) :].removesuffix(".gz").lstrip(".")
            return int(rest) if rest.isdigit() else 0

        found = [
            p
            for p in self.log_dir.glob(name + "*")
            if p.name == name or re.fullmatch(re.escape(name) + r"\.\d+(\.gz)?", p.name)
        ]
        return sorted(found, key=age, reverse=True)

    def access_logs(self) -> list[Path]:
        """The access log's pieces, oldest first."""
        return self.pieces("access.log")

    def error_logs(self) -> list[Path]:
        """The error log's pieces, oldest first."""
        return self.pieces("error.log")

    def configure(
        self,
        http_body: str,
        *,
        workers: int = 2,
        worker_connections: int = 512,
        edge: bool = False,
        log_format: str = MAIN_FORMAT,
        main: str = "",
    ) -> None:
        """Write nginx.conf: process and path boilerplate around ``http_body``; ``main`` is
        added to the main context (e.g. ``worker_rlimit_nofile 96;``)."""
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the tmp dirs
        p = self.prefix
        clock = (
            "    add_header X-E2E-Msec $msec always;\n"
            if edge
            else f"    add_header X-E2E-Msec-{self.host} $msec always;\n"
        )
        conf = f"""# {self.host} (e2e scenario; prefix {p})
{user}daemon off;
master_process on;
worker_processes {workers};
{main}
pid {p}/nginx.pid;
error_log {self.error_log} notice;
# Nginx clears the workers' environment: keep what libfaketime reads.
env FAKETIME;
env LD_PRELOAD;
env TZ;

events {{
    worker_connections {worker_connections};
}}

http {{
    types {{
        text/html html;
        text/css css;
        application/javascript js;
        image/x-icon ico;
    }}
    default_type application/octet-stream;
    log_format main {log_format};
    access_log {self.access_log} main;
    keepalive_timeout 65;
    client_body_temp_path {p}/client_body_temp;
    proxy_temp_path {p}/proxy_temp;
    fastcgi_temp_path {p}/fastcgi_temp;
    uwsgi_temp_path {p}/uwsgi_temp;
    scgi_temp_path {p}/scgi_temp;
{clock}
{http_body}
}}
"""
        self.conf_path.write_text(conf)

    def _argv(self, *extra: str) -> list[str]:
        return [self.h.nginx_bin, "-p", f"{self.prefix}/", "-c", str(self.conf_path), *extra]

    def start(self) -> None:
        """Start a new master (foreground) under the fake clock; wait until it listens."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.host}: nginx is already running")
        log = self.prefix / "nginx.stderr"
        env = self.h.nginx_env(self.tz, self.clock_ahead_s)
        self.proc = self.h.procs.spawn(self._argv(), log=log, env=env)
        wait_for(
            lambda: accepts(self.port),
            f"{self.host} nginx on port {self.port}",
            alive=self.proc,
            log=log,
        )

    def reload(self, wait_listening: bool = True) -> None:
        """``nginx -s reload`` (its helper's ``signal process started`` goes to error.log,
        as on a host whose compiled-in error log is that file); wait for the new workers."""
        before = self.error_log.stat().st_size
        helper = self.h.procs.spawn(
            self._argv("-s", "reload"),
            log=self.error_log,
            env=self.h.nginx_env(self.tz, self.clock_ahead_s),
            stdout_to=self.prefix / "nginx.stderr",
        )
        helper.wait(timeout=10)

        def reloaded() -> bool:
            with open(self.error_log, "rb") as f:
                f.seek(before)
                return b"start worker process" in f.read()

        wait_for(reloaded, f"{self.host} reload", log=self.error_log)
        if wait_listening:
            wait_for(lambda: accepts(self.port), f"{self.host} listening after reload")

    def rotate(self) -> None:
        """What logrotate does: ``mv access.log access.log.1; mv error.log error.log.1;
        nginx -s reopen``; waits until Nginx has created the new files. Requests a worker
        finishes before it reopens still go to the ``.1`` files, as on a real host."""
        for log in (self.access_log, self.error_log):
            log.rename(log.with_name(log.name + ".1"))
        helper = self.h.procs.spawn(
            self._argv("-s", "reopen"),
            log=self.prefix / "nginx.stderr",
            env=self.h.nginx_env(self.tz, self.clock_ahead_s),
        )
        helper.wait(timeout=10)
        wait_for(
            lambda: self.access_log.exists() and self.error_log.exists(),
            f"{self.host} to reopen its logs",
            log=self.prefix / "nginx.stderr",
        )

    def compress_rotated(self) -> list[Path]:
        """gzip every ``*.log.N`` piece to ``*.log.N.gz`` (what logrotate's ``delaycompress``
        does one rotation later); call after Nginx stopped."""
        out = []
        for piece in sorted(self.log_dir.glob("*.log.[0-9]*")):
            if piece.suffix == ".gz":
                continue
            dst = piece.with_name(piece.name + ".gz")
            with open(piece, "rb") as src, gzip.open(dst, "wb") as gz:
                shutil.copyfileobj(src, gz)
            piece.unlink()
            out.append(dst)
        return out

    def stop(self) -> None:
        """Graceful stop (SIGQUIT to the master), then SIGKILL to the group if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            self.h.procs.kill(self.proc)
        wait_for(lambda: not accepts(self.port), f"{self.host} to stop listening", 3.0)

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        return f"127.0.0.1:{self.port}"


class App:
    """The Python shop app (``upstream_app.py``) on a loopback port: kill, restart, stall,
    a background error trickle, HTTPS with a given certificate."""

    def __init__(self, h: Harness, name: str) -> None:
        self.h = h
        self.name = name
        self.port = h.port()
        self.dir = h.root / "apps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.control = self.dir / f"{name}.control"
        self.proc: subprocess.Popen[bytes] | None = None
        #: control lines kept whatever :meth:`set` writes (e.g. ``fail /api/cart 0.1``)
        self.background: list[str] = []
        self._words: tuple[str, ...] = ()
        #: (certificate, key) PEM files when the app speaks HTTPS
        self.tls: tuple[Path, Path] | None = None

    def start(self, tls: tuple[Path, Path] | None = None) -> None:
        """Start (or restart) the app and wait until it accepts connections; with ``tls``
        (certificate and key PEM files) it serves HTTPS with that certificate from now on."""
        if tls is not None:
            self.tls = tls
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FAKETIME") and k != "LD_PRELOAD"
        }
        log = self.dir / f"{self.name}.log"
        self.proc = self.h.procs.spawn(
            [
                sys.executable,
                str(HERE / "upstream_app.py"),
                str(self.port),
                str(self.control),
                self.name,
                *([str(self.tls[0]), str(self.tls[1])] if self.tls else []),
            ],
            log=log,
            env=env,
        )
        wait_for(
            lambda: accepts(self.port),
            f"app {self.name} on port {self.port}",
            alive=self.proc,
            log=log,
        )

    def kill(self) -> None:
        """SIGKILL, as the OOM killer would; wait until the port refuses connections."""
        if self.proc is not None:
            self.h.procs.kill(self.proc)
        wait_for(lambda: not accepts(self.port), f"app {self.name} to be gone", 3.0)

    def set(self, *words: str) -> None:
        """Write the control file (``stall``, ``slow /search 0.1``, or nothing), after the
        :attr:`background` lines."""
        self._words = words
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text("\n".join([*self.background, " ".join(words)]) + "\n")
        tmp.replace(self.control)

    def always(self, *words: str) -> None:
        """Add a background directive (``fail /api/cart 0.1``) that :meth:`set` keeps."""
        self.background.append(" ".join(words))
        self.set(*self._words)

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        return f"127.0.0.1:{self.port}"


def make_ca(
    folder: Path, name: str, libfaketime: str, not_before: float = FAKE_START - 30 * 86400
) -> dict[str, Path]:
    """A test CA and certificates made now with the ``openssl`` CLI (never committed):
    ``ca`` (ca.pem), ``good``/``good_key`` (signed by the CA for ``name``), ``self``/
    ``self_key`` (self-signed for the same ``name``: fails verification against the CA).

    Nginx checks them on its fake clock, so openssl runs under libfaketime too: the
    certificates are valid from ``not_before`` (before the scenario's fake start) for ten
    years, not from today."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise E2EUnavailable(
            "the TLS scenario needs the openssl CLI (Debian: apt-get install openssl)"
        )
    folder.mkdir(parents=True, exist_ok=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
    stamp = datetime.fromtimestamp(not_before, UTC).strftime("%Y-%m-%d %H:%M:%S")
    env.update(LD_PRELOAD=libfaketime, FAKETIME=f"@{stamp}", TZ="UTC")

    def run(*args: str) -> None:
        subprocess.run(
            [openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60, env=env
        )

    san = f"subjectAltName=DNS:{name}"
    rsa = ("-newkey", "rsa:2048", "-nodes")
    run("req", "-x509", *rsa, "-days", "3650", "-keyout", "ca.key", "-out", "ca.pem",
        "-subj", "/CN=e2e test CA")  # fmt: skip
    run("req", *rsa, "-keyout", "good.key", "-out", "good.csr", "-subj", f"/CN={name}")
    (folder / "san.ext").write_text(san + "\n")
    run("x509", "-req", "-in", "good.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "3650", "-out", "good.pem", "-extfile", "san.ext")  # fmt: skip
    run("req", "-x509", *rsa, "-days", "3650", "-keyout", "self.key", "-out", "self.pem",
        "-subj", f"/CN={name}", "-addext", san)  # fmt: skip
    return {
        "ca": folder / "ca.pem",
        "good": folder / "good.pem",
        "good_key": folder / "good.key",
        "self": folder / "self.pem",
        "self_key": folder / "self.key",
    }


# --------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A client: a source address of its own and a stable browser."""

    addr: str
    ua: str


def make_users(n: int, net: int = 1, seed: int = 1) -> list[User]:
    """``n`` users at 127.<net>.x.y, each with a browser drawn once."""
    rng = random.Random(f"users-{net}-{seed}")
    return [User(f"127.{net}.{i // 250}.{i % 250 + 1}", rng.choice(BROWSERS)) for i in range(n)]


def shop_site(web: Nginx, site: str, docroot: Path, upstream: str) -> Path:
    """Give ``web`` the seed's site layout: ``sites-available/shop`` (static files from
    ``docroot``, the rest proxied to ``upstream``) linked from ``sites-enabled/``, as a
    Debian host has it. Returns the ``sites-enabled`` folder for nginx.conf to include."""
    avail, enabled = web.prefix / "sites-available", web.prefix / "sites-enabled"
    avail.mkdir()
    enabled.mkdir()
    (avail / "shop").write_text(f"""server {{
    listen {web.address};
    server_name {site};
    root {docroot};

    location /static/ {{ expires 1y; }}
    location = /favicon.ico {{ log_not_found on; }}
    location = /healthz {{ default_type text/plain; return 200 "ok\\n"; }}
    location / {{
        proxy_pass http://{upstream};
        proxy_set_header Host $host;
    }}
}}
""")
    (enabled / "shop").symlink_to(avail / "shop")
    return enabled


def shop_path(rng: random.Random) -> str:
    """A shop visitor's next request: pages, the cart API, static files."""
    return rng.choices(PAGES, weights=_PAGE_WEIGHTS)[0][1](rng)


@dataclass
class Outcome:
    """One request as the client saw it."""

    traffic: str
    client: str
    path: str
    probe: bool
    real_start: float
    real_end: float
    #: completion time in fake time: Nginx's own $msec when it answered, else the harness clock
    ts: float
    #: HTTP status, 0 when no response came
    status: int
    #: "" or refused / reset / timeout / closed / oserror:N
    error: str
    nginx_clock: bool
    #: host behind the edge -> its Nginx's $msec when it answered (its own header)
    host_clocks: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """5xx, or no answer at all (refused, reset, timeout, closed), or Nginx's 444."""
        return self.status >= 500 or self.status in (0, 444)

    @property
    def sent_ts(self) -> float:
        """When the request was sent, in fake time on the same clock as :attr:`ts`."""
        return self.ts - SPEED * (self.real_end - self.real_start)

    @property
    def waited_s(self) -> float:
        """How long the client waited, in fake seconds."""
        return SPEED * (self.real_end - self.real_start)


def http_get(
    src: str,
    port: int,
    path: str,
    ua: str,
    referer: str = "",
    read_timeout_s: float = READ_TIMEOUT_S,
) -> tuple[int, dict[str, str], str]:
    """A minimal HTTP/1.1 GET from source address ``src``: (status, headers, error); the
    client gives up ``read_timeout_s`` real seconds after it sent the request."""
    head = (
        f"GET {path} HTTP/1.1\r\nHost: {SITE}\r\nUser-Agent: {ua}\r\n"
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.5\r\n"
        + (f"Referer: {referer}\r\n" if referer else "")
        + "Connection: close\r\n\r\n"
    ).encode()
    buf = bytearray()
    error = ""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(CONNECT_TIMEOUT_S)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(head)
        deadline = time.monotonic() + read_timeout_s
        for _ in range(4096):  # bounded: 4096 reads, or the deadline, or 4 MB
            left = deadline - time.monotonic()
            if left <= 0:
                error = "timeout"
                break
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > 4_000_000:
                break
    except ConnectionRefusedError:
        error = "refused"
    except ConnectionResetError:
        error = "reset"
    except TimeoutError:
        error = "timeout"
    except OSError as e:
        error = f"oserror:{e.errno}"
    finally:
        s.close()
    end = buf.find(b"\r\n\r\n")
    lines = bytes(buf[: end if end >= 0 else len(buf)]).decode("latin-1").split("\r\n")
    status = 0
    headers: dict[str, str] = {}
    first = lines[0].split(" ") if lines and lines[0] else []
    if len(first) >= 2 and first[0].startswith("HTTP/") and first[1].isdigit():
        status = int(first[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        error = ""  # a reset after the whole header is still an answer
    elif not error:
        error = "closed"
    return status, headers, error


class Traffic:
    """Open-loop load: ``rate`` requests per real second from ``users``, over ``threads``.

    Each request slot has a due time; a thread more than MAX_LAG_S late skips ahead instead
    of bursting to catch up. Bounded by ``max_requests`` and the harness deadline.
    """

    def __init__(
        self,
        h: Harness,
        name: str,
        port: int,
        users: Sequence[User],
        rate: float,
        threads: int,
        *,
        pick: Callable[[random.Random], str] = shop_path,
        probe: bool = False,
        max_requests: int = 20_000,
    ) -> None:
        self.h = h
        self.name = name
        self.port = port
        self.users = list(users)
        self.rate = rate
        self.probe = probe
        self.pick = pick
        self.max_requests = max_requests
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._k = 0
        self._issued = 0
        self._t0 = 0.0
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True, name=f"{name}-{i}")
            for i in range(threads)
        ]

    def start(self) -> None:
        """Start the threads; the first request is due now."""
        self._t0 = time.time()
        for t in self._threads:
            t.start()

    def halt(self) -> None:
        """Stop issuing new requests (those in flight finish on their own)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop issuing requests; wait for those in flight (bounded by the client timeouts)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=CONNECT_TIMEOUT_S + READ_TIMEOUT_S + 2)

    def _slot(self) -> float | None:
        with self._lock:
            if self._issued >= self.max_requests:
                return None
            now = time.time()
            due = self._t0 + self._k / self.rate
            if now - due > MAX_LAG_S:
                self._k = math.ceil((now - self._t0) * self.rate)
                due = self._t0 + self._k / self.rate
            self._k += 1
            self._issued += 1
            return due

    def _run(self, idx: int) -> None:
        rng = random.Random(f"{self.name}-{idx}")
        for _ in range(self.max_requests):
            if self._stop.is_set() or time.time() > self.h.deadline:
                return
            due = self._slot()
            if due is None:
                return
            for _ in range(1000):
                left = due - time.time()
                if left <= 0 or self._stop.is_set():
                    break
                time.sleep(min(0.05, left))
            if self._stop.is_set():
                return
            user = rng.choice(self.users)
            path = self.pick(rng)
            referer = "" if path == "/" or self.probe else f"https://{SITE}/"
            t0 = time.time()
            status, headers, error = http_get(
                user.addr, self.port, path, user.ua, referer, self.h.read_timeout_s
            )
            t1 = time.time()
            msec = headers.get(CLOCK_HEADER, "")
            ts = float(msec) if msec else self.h.clock.fake(t1)
            behind = {
                k[len(HOST_CLOCK_PREFIX) :]: float(v)
                for k, v in headers.items()
                if k.startswith(HOST_CLOCK_PREFIX) and v
            }
            self.h.record(
                Outcome(
                    self.name, user.addr, path, self.probe, t0, t1, ts, status, error,
                    bool(msec), behind,
                )
            )


class SlowClients:
    """Connections that never finish a request (a slowloris-style burst): from ``addrs``,
    keep ``conns`` connections open or connecting, each sending ``request`` (a partial
    request line) and then nothing; when Nginx closes one (its client_header_timeout), open
    another. They are not users: no outcome is recorded, and the self-check leaves their
    addresses out. One thread with a selector, bounded by the harness deadline."""

    def __init__(
        self,
        h: Harness,
        port: int,
        addrs: Sequence[str],
        conns: int,
        request: bytes = b"GET /",
        connect_timeout_s: float = 1.0,
    ) -> None:
        self.h = h
        self.port = port
        self.addrs = list(addrs)
        self.conns = conns
        self.request = request
        self.connect_timeout_s = connect_timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="slow-clients")
        self.stats: Counter[str] = Counter()

    def start(self) -> None:
        """Start opening connections."""
        self._thread.start()

    def halt(self) -> None:
        """Stop: every connection still open is closed (FIN) by the thread."""
        self._stop.set()

    def stop(self) -> None:
        """Halt and wait for the thread (it closes its sockets on the way out)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        socks: dict[socket.socket, float] = {}  # socket -> connect start (real)
        k = 0
        try:
            for _ in range(10_000_000):  # bounded; the deadline ends it well before
                if self._stop.is_set() or time.time() > self.h.deadline:
                    break
                for _ in range(max(0, self.conns - len(socks))):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    try:
                        s.bind((self.addrs[k % len(self.addrs)], 0))
                        k += 1
                        s.connect_ex(("127.0.0.1", self.port))
                    except OSError:
                        s.close()
                        self.stats["bind_failed"] += 1
                        break
                    socks[s] = time.time()
                    sel.register(s, selectors.EVENT_WRITE)
                    self.stats["opened"] += 1
                for key, ev in sel.select(timeout=0.02):
                    s = key.fileobj  # type: ignore[assignment]
                    assert isinstance(s, socket.socket)
                    if ev & selectors.EVENT_WRITE and key.events == selectors.EVENT_WRITE:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            self.stats[f"connect_error_{err}"] += 1
                            sel.unregister(s)
                            s.close()
                            del socks[s]
                            continue
                        try:
                            s.send(self.request)
                        except OSError:
                            pass
                        socks[s] = math.inf  # connected: no connect timeout any more
                        sel.modify(s, selectors.EVENT_READ)
                        self.stats["connected"] += 1
                    elif ev & selectors.EVENT_READ:
                        try:
                            data = s.recv(4096)
                        except OSError:
                            data = b""
                        if not data:
                            self.stats["closed_by_server"] += 1
                            sel.unregister(s)
                            s.close()
                            del socks[s]
                        else:
                            self.stats["answered"] += 1
                now = time.time()
                for s, t0 in list(socks.items()):
                    if now - t0 > self.connect_timeout_s:
                        self.stats["connect_timeout"] += 1
                        sel.unregister(s)
                        s.close()
                        del socks[s]
        finally:
            for s in list(socks):
                try:
                    sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
            sel.close()


# --------------------------------------------------------------------------------------
# Truth, alerts, self-check
# --------------------------------------------------------------------------------------

#: What counts as a failed request unless a scenario says otherwise: 5xx, Nginx's 444, and
#: no answer at all (status 0: refused, reset, timeout, closed).
DEFAULT_FAILED_STATUSES = frozenset(range(500, 600)) | {0, 444}


def clock_skew(clock: FakeClock, outcomes: Sequence[Outcome]) -> float:
    """Median of Nginx's $msec minus the harness's fake time at the middle of the request."""
    diffs = sorted(
        o.ts - clock.fake((o.real_start + o.real_end) / 2) for o in outcomes if o.nginx_clock
    )
    return diffs[len(diffs) // 2] if diffs else 0.0


#: How far a client's measured wait can be off, in fake seconds: a machine that stalls for
#: 15-25 real ms (seen on CI: three requests at one instant, held before Nginx read them, so
#: its log never shows it) adds a second or more of log time at 60x.
CLIENT_WAIT_NOISE_S = SPEED * 0.025


def slow_bar(outcomes: Sequence[Outcome], before: float) -> float:
    """The slowness bar from the clients' side: 3x the p95 of what the users waited
    before ``before`` (fake time), and at least 0.5 s over it (the tool's definition,
    docs/method.md "Impact", applied to the clients' own clocks, not to Nginx's log), plus
    :data:`CLIENT_WAIT_NOISE_S`: a wait is the fault's only when the test machine's own
    stalls cannot explain it."""
    waits = sorted(o.waited_s for o in outcomes if not o.probe and o.ts < before)
    if not waits:
        raise RuntimeError("no request before the fault: no usual latency to compare with")
    p95 = waits[min(len(waits) - 1, math.ceil(0.95 * len(waits)) - 1)]
    return max(3.0 * p95, p95 + 0.5) + CLIENT_WAIT_NOISE_S


def host_clock_skews(clock: FakeClock, outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Per host behind the edge, the median of its $msec minus the harness's fake time at
    the middle of the request (as :func:`clock_skew` for the edge)."""
    diffs: dict[str, list[float]] = {}
    for o in outcomes:
        mid = clock.fake((o.real_start + o.real_end) / 2)
        for host, msec in o.host_clocks.items():
            diffs.setdefault(host, []).append(msec - mid)
    return {h: sorted(d)[len(d) // 2] for h, d in sorted(diffs.items())}


def compute_truth(
    outcomes: Sequence[Outcome],
    start: float,
    end: float,
    failed: Callable[[Outcome], bool] = lambda o: o.failed,
) -> dict[str, Any]:
    """Users active and affected during the fault ``[start, end]`` (fake time), from the
    clients' side; ``failed`` says which outcomes are failures of this fault.

    A request belongs to the fault when it was in flight during it: sent before the fault
    ended and answered (or given up on) after it began. A user whose page hung through the
    repair and then loaded was active, not affected; a request sent during the fault that
    timed out a minute later is a failure of the fault. (For requests of a few ms this is
    the same as "answered during the fault"; ``users_pct_answered_in_fault`` keeps that
    older reading for reference.)"""
    users = [o for o in outcomes if not o.probe]
    inwin = [o for o in users if o.sent_ts <= end and o.ts >= start]
    active = sorted({o.client for o in inwin})
    affected = sorted({o.client for o in inwin if failed(o)})
    kinds = Counter(o.error or str(o.status) for o in inwin)
    done = [o for o in users if start <= o.ts <= end]
    done_active = {o.client for o in done}
    done_affected = {o.client for o in done if failed(o)}
    return {
        "fault_start": iso(start),
        "fault_end": iso(end),
        "users_active": active,
        "users_affected": affected,
        "users_pct": round(100.0 * len(affected) / len(active), 3) if active else 0.0,
        "users_pct_answered_in_fault": round(100.0 * len(done_affected) / len(done_active), 3)
        if done_active
        else 0.0,
        "requests_in_fault": len(inwin),
        "requests_failed_in_fault": sum(1 for o in inwin if failed(o)),
        "outcomes_in_fault": dict(sorted(kinds.items())),
    }


def _notification(
    labels: dict[str, str], annotations: dict[str, str], starts: str, ends: str, resolved: bool
) -> str:
    status = "resolved" if resolved else "firing"
    labels = dict(sorted(labels.items()))
    annotations = dict(sorted(annotations.items()))
    body = {
        "receiver": "sre-webhook",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": starts,
                # Alertmanager zeroes EndsAt of alerts that are still firing
                "endsAt": ends if resolved else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr="
                + (
                    "probe_success+%3D%3D+0"
                    if labels["alertname"] != "Watchdog"
                    else "vector%281%29"
                )
                + "&g0.tab=1",
                "fingerprint": fingerprint(labels),
            }
        ],
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": '{}:{alertname="' + labels["alertname"] + '"}',
        "truncatedAlerts": 0,
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    # Go's encoding/json escapes HTML characters by default
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") + "\n"


#: Failed probes less than this far apart (fake s) are one alert (Prometheus' evaluation and
#: Alertmanager's resolve delay keep a flapping probe's alert firing).
ALERT_MERGE_S = 180.0


def probe_alerts(
    probes: Sequence[Outcome], failed: Callable[[Outcome], bool] = lambda o: o.failed
) -> list[tuple[float, float]]:
    """(first failed probe, first good probe after the last failed one) of every alert:
    failed probes closer than :data:`ALERT_MERGE_S` belong to the same alert."""
    seq = sorted(probes, key=lambda o: o.ts)
    bad = [i for i, o in enumerate(seq) if failed(o)]
    groups: list[list[int]] = []
    for i in bad:
        if groups and seq[i].ts - seq[groups[-1][-1]].ts <= ALERT_MERGE_S:
            groups[-1].append(i)
        else:
            groups.append([i])
    spans = []
    for g in groups:
        good_after = next((o.ts for o in seq[g[-1] + 1 :] if not failed(o)), seq[-1].ts)
        spans.append((seq[g[0]].ts, good_after))
    return spans


def probe_alert(
    probes: Sequence[Outcome], failed: Callable[[Outcome], bool] = lambda o: o.failed
) -> tuple[float, float] | None:
    """The first alert of :func:`probe_alerts`, or None."""
    spans = probe_alerts(probes, failed)
    return spans[0] if spans else None


def watchdog_notification() -> str:
    """The webhook line of Alertmanager's always-firing Watchdog (started the day before)."""
    return _notification(
        {"alertname": "Watchdog", "severity": "none"},
        {"summary": "Alerting pipeline heartbeat: this alert is always firing."},
        "2023-03-19T00:00:00.467214317Z",
        "",
        False,
    )


def write_webhook(
    path: Path,
    probes: Sequence[Outcome],
    instance: str,
    failed: Callable[[Outcome], bool] = lambda o: o.failed,
) -> list[str]:
    """Alertmanager webhook v4 JSON lines: the Watchdog, and ProbeFailed firing/resolved
    (once per alert of :func:`probe_alerts`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [watchdog_notification()]
    labels = {
        "alertname": "ProbeFailed",
        "instance": instance,
        "job": "blackbox",
        "severity": "critical",
    }
    notes = {
        "summary": f"Blackbox probe of http://{instance}/healthz is failing",
        "description": "probe_success == 0 for the shop's health check.",
    }
    for span in probe_alerts(probes, failed):
        lines.append(_notification(labels, notes, rfc3339nano(span[0]), "", False))
        lines.append(_notification(labels, notes, rfc3339nano(span[0]), rfc3339nano(span[1]), True))
    path.write_text("".join(lines))
    return lines


# -- reading the logs (main, main + timings, JSON; rotated and .gz pieces; any zone) ---------

_ACCESS = re.compile(r'^(\S+) - \S+ \[([^\]]+)\] "(?:[^"\\]|\\.)*" (\d{3}) ')
_ERROR = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] (?:\d+#\d+: )?(.*)$")


def read_lines(path: Path) -> list[str]:
    """The lines of a log file (a ``.gz`` piece decompressed)."""
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return raw.decode("utf-8", errors="replace").splitlines()


def access_record(line: str) -> tuple[float, int, str] | None:
    """(epoch seconds, status, client address) of an access line in ``main`` (with or
    without trailing fields) or Nginx's JSON form (``{"time":"$time_iso8601",...}``)."""
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        when = obj.get("time") or obj.get("time_iso8601")
        if not isinstance(obj, dict) or not when or "status" not in obj:
            return None
        return parse_iso(str(when)), int(obj["status"]), str(obj.get("remote_addr", ""))
    m = _ACCESS.match(line)
    if m is None:
        return None
    t = datetime.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S %z").timestamp()
    return t, int(m.group(3)), m.group(1)


def error_record(line: str) -> tuple[str, str, str] | None:
    """(local time text, level, message) of an error-log line, or None."""
    m = _ERROR.match(line)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def _line_time(line: str, tz: str = "UTC") -> float | None:
    """Epoch seconds of an access line (its own offset, or JSON's ISO time) or an error line
    (local time of the zone ``tz`` without an offset, as Nginx writes it)."""
    rec = access_record(line)
    if rec is not None:
        return rec[0]
    m = re.match(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) ", line)
    if m:
        local = datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S")
        return local.replace(tzinfo=UTC if tz == "UTC" else ZoneInfo(tz)).timestamp()
    return None


def access_records(paths: Path | Sequence[Path]) -> list[tuple[float, int, str]]:
    """(epoch second, status, client) of every line of an access log's pieces."""
    out = []
    for path in [paths] if isinstance(paths, Path) else paths:
        for ln in read_lines(path):
            rec = access_record(ln)
            if rec is None:
                raise AssertionError(f"{path}: unexpected access line {ln[:200]!r}")
            out.append(rec)
    return out


def access_statuses(paths: Path | Sequence[Path]) -> list[tuple[float, int]]:
    """(epoch second, status) of every line of an access log (or of its pieces)."""
    return [(t, s) for t, s, _ in access_records(paths)]


def _per_minute(pairs: Sequence[tuple[float, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (minute, status), n in sorted(Counter((int(t // 60) * 60, s) for t, s in pairs).items()):
        out.setdefault(iso(minute)[11:16], {})[str(status)] = n
    return out


def _explained(log_pm: dict[str, dict[str, int]], cli_pm: dict[str, dict[str, int]],
                unanswered: int) -> bool:
    """The log's errors per minute equal the clients', or exceed them only by errors whose
    client had stopped listening (at most ``unanswered`` of them; see :func:`self_check`)."""
    if log_pm == cli_pm:
        return True
    extra = 0
    for minute in set(log_pm) | set(cli_pm):
        logged, seen = log_pm.get(minute, {}), cli_pm.get(minute, {})
        for status in set(logged) | set(seen):
            if seen.get(status, 0) > logged.get(status, 0):
                return False  # a client saw an error that the log does not show
            extra += logged.get(status, 0) - seen.get(status, 0)
    return extra <= unanswered


def self_check(
    access_log: Path | Sequence[Path],
    outcomes: Sequence[Outcome],
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """The error statuses per minute in the edge's log against those its clients received.

    Every status >= 400 is compared (5xx, and the 4xx a misrouted site answers), status by
    status, minute by minute; 499 (the client gave up: it received nothing) is not.
    Clients whose request got no answer (refused, reset, timeout) are not compared: Nginx
    was down or dropped the connection and wrote no line for them. Lines of the ``exclude``
    addresses (slow clients that are not users) are left out.

    One race is allowed for: a client that gave up (timeout) or whose connection was reset
    or closed may have had its error response logged by Nginx all the same (Nginx writes
    the line when it has sent the answer, which the client no longer read; seen in CI on a
    loaded machine: one 500 in the log, none among the clients, one client timeout). So
    the two views also agree when every error a client received is in the log, minute by
    minute, and the log's extra errors are no more than the clients that got no answer
    but could have reached Nginx (not refused).
    """
    skip = set(exclude)
    lines = [(t, s) for t, s, a in access_records(access_log) if a not in skip]
    log_err = [(t, s) for t, s in lines if s >= 400 and s != 499]
    cli_err = [(o.ts, o.status) for o in outcomes if o.status >= 400 and o.status != 499]
    log5 = Counter(int(t // 60) * 60 for t, s in lines if s >= 500)
    cli5 = Counter(int(o.ts // 60) * 60 for o in outcomes if o.status >= 500)
    untimed = sum(1 for o in outcomes if o.status and not o.nginx_clock)
    log_pm, cli_pm = _per_minute(log_err), _per_minute(cli_err)
    unanswered = sum(1 for o in outcomes if not o.status and o.error in ("timeout", "reset",
                                                                         "closed"))
    return {
        "equal": untimed == 0 and _explained(log_pm, cli_pm, unanswered),
        "log_errors_per_minute": log_pm,
        "client_errors_per_minute": cli_pm,
        "log_5xx_per_minute": {iso(k)[11:16]: v for k, v in sorted(log5.items())},
        "client_5xx_per_minute": {iso(k)[11:16]: v for k, v in sorted(cli5.items())},
        "log_499": sum(1 for _, s in lines if s == 499),
        "responses_without_nginx_clock": untimed,
        "log_lines": len(lines),
        "log_lines_excluded": len(access_records(access_log)) - len(lines) if skip else 0,
        "client_responses": sum(1 for o in outcomes if o.status),
        "client_no_response": dict(Counter(o.error for o in outcomes if not o.status)),
    }


# --------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """What a test declares: its name, the cause it expects, its phases in fake seconds."""

    name: str
    expected_cause: str
    pre_s: float = 10 * 60
    fault_s: float = 8 * 60
    post_s: float = 8 * 60
    notes: list[str] = field(default_factory=list)
    #: The statuses that make a request failed for the truth (0: no answer at all); None:
    #: :data:`DEFAULT_FAILED_STATUSES`. A site no longer served adds the default server's
    #: 404/403; a background 500 trickle that is not the incident leaves 500 out.
    failed_statuses: frozenset[int] | None = None
    #: Several faults: the cause each one must get, in the order of the faults (the tool
    #: must then report as many incidents). Empty: one fault, ``expected_cause``.
    expected_causes: tuple[str, ...] = ()
    #: The host the tool must name in the matched incident's first cause (``causes[0].host``).
    culprit_host: str | None = None
    #: Fake time at the start (epoch seconds).
    fake_start: float = FAKE_START
    #: The whole run in fake seconds when it is not pre + fault + post (several faults).
    total_s: float | None = None
    #: The fault is slowness, nothing fails: a user is affected who waited longer than
    #: :attr:`slow_bar_s` for an answer (see :func:`slow_bar`).
    slowness: bool = False
    #: Set by :meth:`Harness.finish` when ``slowness``: the bar, in fake seconds.
    slow_bar_s: float | None = None

    def failed(self, o: Outcome) -> bool:
        """Whether the client's outcome is a failure of this scenario's fault."""
        statuses = DEFAULT_FAILED_STATUSES if self.failed_statuses is None else self.failed_statuses
        if self.slow_bar_s is not None and o.waited_s > self.slow_bar_s:
            return True
        return o.status in statuses

    @property
    def causes(self) -> tuple[str, ...]:
        """The expected cause of each fault."""
        return self.expected_causes or (self.expected_cause,)


class Harness:
    """Runs one scenario in ``root``: processes, traffic, truth, the tool, the comparison."""

    def __init__(self, root: Path, nginx_bin: str, libfaketime: str) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nginx_bin = nginx_bin
        self.libfaketime = libfaketime
        self.procs = Processes()
        self.ports: list[int] = []
        self.clock = FakeClock()
        self.deadline = time.time() + 120
        #: How long a client waits for an answer (real s; x60 in log time): a scenario where
        #: users' connections hang sets it lower so that users give up as people do.
        self.read_timeout_s = READ_TIMEOUT_S
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self.traffic: list[Traffic] = []
        self.slow_clients: list[SlowClients] = []
        self.nginxes: list[Nginx] = []
        self.apps: list[App] = []
        #: [start, end] of every fault, in fake time
        self.faults: list[list[float]] = []
        self.docroot = root / "www"
        self._write_docroot()

    # -- setup ---------------------------------------------------------------------------

    def _write_docroot(self) -> None:
        static = self.docroot / "static"
        static.mkdir(parents=True, exist_ok=True)
        (static / "app.3f9c1a7e.js").write_text("/* shop app */\n" + "var a=1;\n" * 3000)
        (static / "style.b81d04c2.css").write_text("body{margin:0}\n" * 500)
        (self.docroot / "favicon.ico").write_bytes(bytes(range(256)) * 4)
        (self.docroot / "index.html").write_text("<!doctype html><title>shop</title>\n")

    def port(self) -> int:
        """A free loopback port, remembered for the final "ports are free" check."""
        for _ in range(50):
            p = free_port()
            if p not in self.ports:
                self.ports.append(p)
                return p
        raise RuntimeError("no free port")

    def nginx(self, host: str, tz: str = "UTC") -> Nginx:
        """A new Nginx host (configure, then start) whose processes run with ``TZ=tz``."""
        n = Nginx(self, host, self.port(), tz)
        self.nginxes.append(n)
        return n

    def app(self, name: str) -> App:
        """A new app (not started)."""
        a = App(self, name)
        self.apps.append(a)
        return a

    def nginx_env(self, tz: str = "UTC", ahead_s: float = 0.0) -> dict[str, str]:
        """Environment of an Nginx process spawned now: libfaketime, ``TZ=tz``, its clock
        ``ahead_s`` fake seconds ahead of the scenario's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
        env.update(LD_PRELOAD=self.libfaketime, FAKETIME=self.clock.faketime_spec(ahead_s),
                   TZ=tz)
        return env

    def begin(self, scn: Scenario) -> None:
        """Fake time starts now (before the first Nginx starts)."""
        self.scenario = scn
        self.clock.fake0 = scn.fake_start
        self.clock.start()
        total = scn.total_s or scn.pre_s + scn.fault_s + scn.post_s
        self.deadline = self.clock.real(self.clock.fake0 + total) + 20

    def at(self, offset_s: float) -> None:
        """Sleep until ``offset_s`` fake seconds after the start."""
        self.clock.sleep_until(self.clock.fake0 + offset_s)

    def record(self, o: Outcome) -> None:
        """Keep a client outcome (thread-safe)."""
        with self._lock:
            self.outcomes.append(o)

    def start_traffic(
        self, port: int, users: Sequence[User], rate: float, threads: int = 6, **kw: Any
    ) -> Traffic:
        """Start users' traffic to ``port``; stopped by :meth:`stop_traffic` or the end."""
        t = Traffic(self, f"users-{len(self.traffic)}", port, users, rate, threads, **kw)
        self.traffic.append(t)
        t.start()
        return t

    def start_slow_clients(
        self, port: int, addrs: Sequence[str], conns: int, **kw: Any
    ) -> SlowClients:
        """Start a burst of :class:`SlowClients` (not users: left out of truth and checks)."""
        s = SlowClients(self, port, addrs, conns, **kw)
        self.slow_clients.append(s)
        s.start()
        return s

    @property
    def excluded_clients(self) -> list[str]:
        """Addresses that are not users (the slow clients')."""
        return sorted({a for s in self.slow_clients for a in s.addrs})

    def start_probe(self, port: int) -> Traffic:
        """The Blackbox probe: GET /healthz every 15 fake seconds, from its own address."""
        t = Traffic(
            self,
            "probe",
            port,
            [User(PROBE_ADDR, PROBE_UA)],
            SPEED / PROBE_EVERY_FAKE_S,
            1,
            pick=lambda r: "/healthz",
            probe=True,
        )
        self.traffic.append(t)
        t.start()
        return t

    def fault_begins(self) -> None:
        """Record a fault's start (fake time, now)."""
        if self.faults and len(self.faults[-1]) != 2:
            raise RuntimeError("a fault began before the previous one ended")
        self.faults.append([self.clock.now()])

    def fault_ends(self) -> None:
        """Record the current fault's end (fake time, now)."""
        if not self.faults or len(self.faults[-1]) != 1:
            raise RuntimeError("a fault ended that had not begun")
        self.faults[-1].append(self.clock.now())

    @property
    def fault(self) -> list[float]:
        """[start, end] of the first fault (the only one of most scenarios)."""
        return self.faults[0] if self.faults else []

    # -- teardown ------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Stop traffic, Nginx (gracefully) and the apps."""
        for s in self.slow_clients:
            s.stop()
        for t in self.traffic:
            t.stop()
        for n in self.nginxes:
            n.stop()
        for a in self.apps:
            if a.proc is not None:
                self.procs.kill(a.proc)

    def shutdown(self) -> list[str]:
        """Kill everything started (fixture finalizer); return what is still left over."""
        for s in self.slow_clients:
            s.halt()
        for t in self.traffic:
            t.halt()
        for s in self.slow_clients:
            s.stop()
        for t in self.traffic:
            t.stop()
        self.procs.kill_all()
        problems = self.procs.leftovers()
        prefix = str(self.root / "nginx")
        for pid, state, _ in _proc_table():
            if state not in ("Z", "X") and prefix in _cmdline(pid):
                problems.append(f"nginx from the tmp prefix still running: {pid} {_cmdline(pid)}")
        for p in self.ports:
            if not port_is_free(p):
                problems.append(f"port {p} is still in use")
        return problems

    # -- the end of a scenario -----------------------------------------------------------

    def finish(self, edge: Nginx) -> dict[str, Any]:
        """Stop everything, write truth and alerts, self-check, run the tool, compare.

        Returns the scenario's result (also printed and kept for the session summary).
        """
        scn = self.scenario
        self.stop_all()
        for n in self.nginxes:
            n.compress_rotated()
        if not self.faults or any(len(f) != 2 for f in self.faults):
            raise RuntimeError("the scenario did not record its faults' starts and ends")
        if len(scn.causes) != len(self.faults):
            raise RuntimeError(f"{len(self.faults)} faults but {len(scn.causes)} expected causes")
        # Nginx's fake clock starts a few ms after its FAKETIME was computed, so it runs
        # ~0.3-1 s behind the harness's: move the harness-clock times onto Nginx's clock.
        skew = clock_skew(self.clock, self.outcomes)
        # The hosts behind the edge start late by their own few ms (x60): a host meant to
        # run N s ahead runs N s +- ~1 s ahead. What each clock really read is the truth.
        host_skews = {edge.host: skew, **host_clock_skews(self.clock, self.outcomes)}
        for o in self.outcomes:
            if not o.nginx_clock:
                o.ts += skew
        self.faults = [[t + skew for t in f] for f in self.faults]
        outcomes = sorted(self.outcomes, key=lambda o: o.ts)
        if scn.slowness:
            scn.slow_bar_s = slow_bar(outcomes, self.faults[0][0])
        per_fault = [
            {"expected_cause": cause, **compute_truth(outcomes, a, b, scn.failed)}
            for (a, b), cause in zip(self.faults, scn.causes, strict=True)
        ]
        statuses = scn.failed_statuses
        truth: dict[str, Any] = {
            "scenario": scn.name,
            **per_fault[0],
            "failed_statuses": "5xx, 444 and no answer (0)"
            if statuses is None
            else sorted(statuses),
            "edge": {"host": edge.host, "address": edge.address},
            "hosts": sorted(n.host for n in self.nginxes),
            "addresses": {n.host: n.address for n in self.nginxes},
            "time_zones": {n.host: n.tz for n in self.nginxes},
            "fake_clock": {
                "start": iso(self.clock.fake0),
                "speed": self.clock.speed,
                "nginx_skew_s": round(skew, 3),
                "host_skew_s": {h: round(v, 3) for h, v in sorted(host_skews.items())},
            },
            "requests_total": sum(1 for o in outcomes if not o.probe),
            "users_total": len({o.client for o in outcomes if not o.probe}),
            "probe": {
                "address": PROBE_ADDR,
                "requests": sum(o.probe for o in outcomes),
                "failed": sum(o.probe and scn.failed(o) for o in outcomes),
            },
            "notes": scn.notes,
        }
        if len(per_fault) > 1:
            truth["faults"] = per_fault
        if scn.culprit_host:
            truth["culprit_host"] = scn.culprit_host
        if scn.slow_bar_s is not None:
            truth["slow_bar_s"] = round(scn.slow_bar_s, 3)
        if self.slow_clients:
            truth["slow_clients"] = {
                "addresses": self.excluded_clients,
                "note": "not users: the cause; left out of users and of the self-check",
                **dict(sum((s.stats for s in self.slow_clients), Counter())),
            }
        probes = [o for o in outcomes if o.probe]
        alerts = probe_alerts(probes, scn.failed)
        truth["alert"] = (
            {"name": "ProbeFailed", "starts": iso(alerts[0][0]), "ends": iso(alerts[0][1])}
            if alerts
            else None
        )
        truth["alerts"] = [
            {"name": "ProbeFailed", "starts": iso(a), "ends": iso(b)} for a, b in alerts
        ]
        (self.root / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        write_webhook(self.logs / "alerts" / "webhook.jsonl", probes, edge.address, scn.failed)
        with open(self.root / "outcomes.jsonl", "w") as f:
            for o in outcomes:
                f.write(json.dumps(asdict(o)) + "\n")
        check = self_check(edge.access_logs(), outcomes, self.excluded_clients)
        check["clock_skew_s"] = round(skew, 3)
        tool, error = self.run_tool()
        result = compare(truth, tool)
        problems = check_evidence(tool, ROOT) if tool else []
        result["evidence_problems"] = problems
        result["checks"]["evidence"] = not problems
        if problems:
            result["why"].append(
                f"evidence: {len(problems)} cited line(s) do not show the claim: {problems[0]}"
            )
        result["pass"] = all(result["checks"].values())
        if error:
            result["pass"] = False
            result["why"].insert(0, error)
        result["self_check"] = check
        result["dir"] = str(self.root)
        result["samples"] = self.samples()
        RESULTS.append(result)
        print("E2E_RESULT " + json.dumps(result, sort_keys=True))
        return result

    def run_tool(self) -> tuple[dict[str, Any], str]:
        """``python -m timeline build logs/ -o report/``: (timeline.json, "") or ({}, error)."""
        out = self.root / "report"
        proc = subprocess.run(
            [sys.executable, "-m", "timeline", "build", str(self.logs), "-o", str(out), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        keep = os.environ.get(KEEP_ENV)
        if keep:
            # The scenario's logs and report, to rebuild them with another version of the
            # tool and compare (the logs differ between runs: they are real traffic).
            dest = Path(keep) / self.root.name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(self.logs, dest / "logs", symlinks=True)
            if out.exists():
                shutil.copytree(out, dest / "report")
        if proc.returncode != 0:
            return {}, f"incident-timeline exited {proc.returncode}: {proc.stderr.strip()}"
        data: dict[str, Any] = json.loads((out / "timeline.json").read_text())
        return data, ""

    def samples(self, per_file: int = 3) -> dict[str, list[str]]:
        """A few representative lines per log file (rotated and .gz pieces too), from around
        the faults: failing requests and non-notice messages first, else whatever was
        logged then."""
        spans = [(a - 30, b + 30) for a, b in self.faults]
        out: dict[str, list[str]] = {}
        for n in self.nginxes:
            for path in n.access_logs() + n.error_logs():
                near: list[tuple[int, str]] = []
                for ln in read_lines(path):
                    ts = _line_time(ln, n.tz)
                    if ts is None or not any(lo <= ts <= hi for lo, hi in spans):
                        continue
                    rec = access_record(ln)
                    if rec is not None:
                        rank = 0 if rec[1] >= 400 or rec[1] in (0, 444) else 1
                    else:
                        rank = 1 if "[notice]" in ln else 0
                    near.append((rank, ln))
                near.sort(key=lambda r: r[0])  # stable: file order within a rank
                out[f"{n.host}/{path.name}"] = [ln for _, ln in near[:per_file]]
        return out


#: Tolerances of the comparison (fixed by the issue; do not widen them to make a test pass).
EDGE_TOLERANCE_S = 60.0
USERS_PCT_TOLERANCE = 2.0


def _users_check(inc: dict[str, Any], fault: dict[str, Any]) -> tuple[bool, str]:
    """The tool's users against the truth's: within 2 points of users_pct; or, where the
    tool says it estimated them (``users_basis == "estimated"``: connections dropped before
    any access line), the truth's count within [users_affected_low, users_affected_high] or
    its percent within [users_pct_low, users_pct_high] (the 2-point check still passes
    too). Without those keys: the 2-point check."""
    imp = inc["impact"]
    n, pct = len(fault["users_affected"]), fault["users_pct"]
    lo, hi = imp.get("users_affected_low"), imp.get("users_affected_high")
    close = abs(imp["users_pct"] - pct) <= USERS_PCT_TOLERANCE
    if imp.get("users_basis") == "estimated" and lo is not None and hi is not None:
        if close:
            return True, ""
        if lo <= n <= hi:
            return True, ""
        plo, phi = imp.get("users_pct_low"), imp.get("users_pct_high")
        total = imp.get("users_total") or 0
        if (plo is None or phi is None) and total:
            plo, phi = 100.0 * lo / total, 100.0 * hi / total
        if plo is not None and phi is not None and plo <= pct <= phi:
            return True, ""
        return False, (
            f"users affected {n} ({pct:.1f}%) outside the tool's estimate [{lo}, {hi}] "
            f"([{plo}, {phi}]%)"
        )
    if close:
        return True, ""
    return False, (
        f"users_pct {imp['users_pct']:.1f} vs truth {pct:.1f} ({imp['users_affected']}/"
        f"{imp['users_total']} vs {n}/{len(fault['users_active'])})"
    )


def changes_name(inc: dict[str, Any], host: str, address: str | None = None) -> bool:
    """Whether the first row of the incident's "what changed" table names ``host``: as the
    host, as an upstream address the report ties to it, or as its own ``address`` (the
    proxy's upstream that is the culprit's listening address)."""
    rows = inc.get("changes") or []
    if not rows:
        return False
    top = rows[0]
    tied = {k["address"] for k in inc.get("upstream_links", []) if k.get("host") == host}
    for dim, value in zip(top["dimension"].split("+"), top["value"].split(" + "), strict=False):
        if dim == "host" and value == host:
            return True
        if dim == "upstream" and (value in tied or value == address
                                  or (top.get("backend") or "").split(",")[0] == host):
            return True
    return False


def compare(truth: dict[str, Any], timeline: dict[str, Any]) -> dict[str, Any]:
    """The tool's incidents against the truth: the checks, and why each one failed.

    One fault: exactly one incident, the one overlapping the fault most is compared. Several
    faults (``truth["faults"]``): as many incidents, each fault (in order) matched to the
    unmatched incident that overlaps it most; the checks are suffixed ``_1``, ``_2``, ...
    """
    faults = truth.get("faults") or [truth]
    multi = len(faults) > 1
    incs = timeline.get("incidents", [])
    tool = [
        {
            "start": i["start"],
            "end": i["end"],
            "users_pct": i["impact"]["users_pct"],
            "users_affected": i["impact"]["users_affected"],
            "users_total": i["impact"]["users_total"],
            "users_basis": i["impact"].get("users_basis"),
            "users_affected_low": i["impact"].get("users_affected_low"),
            "users_affected_high": i["impact"].get("users_affected_high"),
            "requests_failed": i["impact"]["requests_failed"],
            "requests_total": i["impact"]["requests_total"],
            "causes": [c["kind"] for c in i.get("causes", [])],
            "cause_hosts": [c.get("host") for c in i.get("causes", [])],
        }
        for i in incs
    ]
    checks: dict[str, bool] = {}
    why: list[str] = []
    if multi:
        checks["incident_count"] = len(incs) == len(faults)
        if len(incs) != len(faults):
            why.append(f"{len(incs)} incidents instead of {len(faults)}")
    else:
        checks["one_incident"] = len(incs) == 1
        if len(incs) != 1:
            why.append(f"{len(incs)} incidents instead of 1")
    free = list(range(len(incs)))
    for k, fault in enumerate(faults, 1):
        sfx, tag = (f"_{k}", f"fault {k}: ") if multi else ("", "")
        t0, t1 = parse_iso(fault["fault_start"]), parse_iso(fault["fault_end"])

        def overlap(j: int, t0: float = t0, t1: float = t1) -> float:
            return min(t1, parse_iso(incs[j]["end"])) - max(t0, parse_iso(incs[j]["start"]))

        names = ["start", "end", "users_pct", "cause"]
        if truth.get("culprit_host"):
            names.append("culprit_host")
        if not free:
            checks.update({n + sfx: False for n in names})
            why.append(f"{tag}no incident left to match")
            continue
        j = max(free, key=overlap)
        free.remove(j)
        inc = incs[j]
        ds = parse_iso(inc["start"]) - t0
        de = parse_iso(inc["end"]) - t1
        users_ok, users_why = _users_check(inc, fault)
        first = (inc.get("causes") or [{}])[0]
        kind = first.get("kind")
        checks.update(
            {
                "start" + sfx: abs(ds) <= EDGE_TOLERANCE_S,
                "end" + sfx: abs(de) <= EDGE_TOLERANCE_S,
                "users_pct" + sfx: users_ok,
                "cause" + sfx: kind == fault["expected_cause"],
            }
        )
        if not checks["start" + sfx]:
            why.append(f"{tag}start off by {ds:+.0f} s")
        if not checks["end" + sfx]:
            why.append(f"{tag}end off by {de:+.0f} s")
        if not users_ok:
            why.append(tag + users_why)
        if not checks["cause" + sfx]:
            why.append(f"{tag}cause {kind} instead of {fault['expected_cause']}")
        if truth.get("culprit_host"):
            host = first.get("host")
            checks["culprit_host" + sfx] = host == truth["culprit_host"]
            if not checks["culprit_host" + sfx]:
                why.append(f"{tag}cause names host {host} instead of {truth['culprit_host']}")
            # (a timeline.json without the table is an older tool's: not checked)
            named = "changes" not in inc or changes_name(
                inc, truth["culprit_host"], truth.get("addresses", {}).get(truth["culprit_host"]))
            checks["changes_culprit" + sfx] = named
            if not named:
                top = (inc.get("changes") or [{}])[0]
                why.append(f"{tag}the what-changed table's first row is "
                           f"{top.get('dimension')}={top.get('value')}, not "
                           f"{truth['culprit_host']} or an upstream tied to it")

    def summary(f: dict[str, Any]) -> dict[str, Any]:
        return {
            "start": f["fault_start"],
            "end": f["fault_end"],
            "users_pct": f["users_pct"],
            "users_affected": len(f["users_affected"]),
            "users_active": len(f["users_active"]),
            "expected_cause": f["expected_cause"],
            "outcomes_in_fault": f["outcomes_in_fault"],
        }

    truth_view = summary(faults[0])
    if multi:
        truth_view["faults"] = [summary(f) for f in faults]
    if truth.get("culprit_host"):
        truth_view["culprit_host"] = truth["culprit_host"]
    return {
        "scenario": truth["scenario"],
        "truth": truth_view,
        "tool": tool,
        "checks": checks,
        "pass": all(checks.values()),
        "why": why,
    }


# --------------------------------------------------------------------------------------
# Evidence: every file:line the report cites shows what it is cited for
# --------------------------------------------------------------------------------------

#: Error-log kinds and a literal their cited line must contain (any one of them).
ERROR_LITERALS: dict[str, tuple[str, ...]] = {
    "upstream_refused": ("Connection refused",),
    "upstream_timeout": ("timed out",),
    "no_live_upstreams": ("no live upstreams",),
    "tls_failure": ("SSL",),
    "too_many_open_files": ("Too many open files",),
    "worker_connections": ("worker_connections are not enough",),
    "file_not_found": ("No such file or directory",),
    "rate_limited": ("limiting requests",),
    "permission_denied": ("forbidden", "Permission denied"),
    "upstream_reset": ("reset by peer",),
    "upstream_closed": ("prematurely closed",),
}
#: Nginx lifecycle kinds of the timeline and the error-log message their line must show.
LIFECYCLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "reload": re.compile(r"signal 1 \(SIGHUP\) received|reconfiguring"),
    "nginx_stop": re.compile(
        r"signal (3 \(SIGQUIT\)|15 \(SIGTERM\)|2 \(SIGINT\)) received|exiting|exit$|"
        r"gracefully shutting down"
    ),
    "nginx_start": re.compile(r"start worker process|using the \"?\w+\"? event method"),
    "worker_crash": re.compile(r"exited on signal"),
}
LIFECYCLE_PATTERNS["nginx_restart"] = re.compile(
    LIFECYCLE_PATTERNS["nginx_stop"].pattern + "|" + LIFECYCLE_PATTERNS["nginx_start"].pattern
)
#: Timeline kinds whose line must be a failing request.
FAILURE_KINDS = ("start", "end", "peak", "upstream_failing")
ALERT_KINDS = ("alert_firing", "alert_resolved", "acknowledged")
#: ``path:line`` inside a text (a path has a folder; the file name must look like a log).
_CITE = re.compile(r"((?:[\w.+@~-]*/)+[\w.+@~-]+):(\d+)(?!\d)")
_LOGLIKE = re.compile(r"\.(log|jsonl|json|ndjson|txt|csv|gz)(\.\d+)?(\.gz)?$|\.log\.\d+")


class _Files:
    """Cited files, read once (``.gz`` pieces decompressed)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.cache: dict[Path, list[str] | None] = {}

    def line(self, path: str, n: int) -> tuple[str | None, str]:
        """(the line, "") or (None, what is wrong)."""
        p = Path(path)
        p = p if p.is_absolute() else self.base / p
        if p not in self.cache:
            try:
                self.cache[p] = read_lines(p)
            except OSError:
                self.cache[p] = None
        lines = self.cache[p]
        if lines is None:
            return None, f"{path} does not exist"
        if not 1 <= n <= len(lines):
            return None, f"{path}:{n} is past the end ({len(lines)} lines)"
        return lines[n - 1], ""


def _failing(status: int, failing: Sequence[int]) -> bool:
    return status >= 500 or status in (0, 444) or status in failing


def _entry_problem(
    kind: str, line: str, text: str, impact: dict[str, Any], basis: str | None = None
) -> str | None:
    """What is wrong with ``line`` as the evidence of a timeline entry of ``kind``.

    ``basis`` is how the tool says it found a start or end (``edges.<kind>.basis``): a
    ``silence`` edge cites the silent host's last (or first) request, which shows that its
    log stops (or resumes) there; an ``error_burst`` edge cites an error-log line.
    """
    acc = access_record(line)
    err = error_record(line)
    failing = impact.get("failing_statuses") or []
    if basis == "silence" and kind in ("start", "end"):
        return None if acc is not None else "not an access-log line (silence edge)"
    if basis == "error_burst" and kind in ("start", "end"):
        return None if err is not None else "not an error-log line (burst edge)"
    if kind in FAILURE_KINDS:
        if impact.get("requests_failed") == 0 and kind in ("start", "end", "peak"):
            return None if acc is not None or err is not None else "not a log line of a request"
        if acc is None:
            return "not an access-log line"
        if not _failing(acc[1], failing):
            return f"an access line with status {acc[1]}, not a failure"
        return None
    if kind == "recovery":
        return None if acc is not None else "not an access-log line"
    if kind in ALERT_KINDS:
        names = re.findall(r'"alertname"\s*:\s*"([^"]+)"', line)
        if any(nm in text for nm in names):
            return None
        m = re.search(r"Alert (\S+)", text)
        if m and m.group(1) in line:
            return None
        return "not a line of the alert it names"
    if kind in LIFECYCLE_PATTERNS:
        if err is None:
            return "not an error-log line"
        if not LIFECYCLE_PATTERNS[kind].search(err[2]):
            return f"not an Nginx {kind} message"
        return None
    if kind in ERROR_LITERALS:
        if err is None:
            return "not an error-log line"
        if not any(lit in err[2] for lit in ERROR_LITERALS[kind]):
            return f"no {' / '.join(ERROR_LITERALS[kind])!r} in it"
        return None
    return None  # unknown kinds: the line exists


def _evidence_problem(before: str, line: str) -> str | None:
    """What is wrong with ``line`` cited right after the evidence text ``before``."""
    if "reload on" in before:
        err = error_record(line)
        if err is None or not LIFECYCLE_PATTERNS["reload"].search(err[2]):
            return "cited as a reload, not a reload line"
    kinds = [k for k in ERROR_LITERALS if re.search(rf"\b{k}\b", before)]
    if kinds:
        lits = ERROR_LITERALS[kinds[-1]]
        if not any(lit in line for lit in lits):
            return f"cited for {kinds[-1]}, no {' / '.join(lits)!r} in it"
    quotes = re.findall(r"“([^”]+)”", before)
    if quotes:
        parts = [p.strip() for p in re.split(r"<[^>]*>", quotes[-1]) if p.strip()]
        longest = max(parts, key=len) if parts else ""
        if longest and longest not in line:
            return f"quotes “{quotes[-1]}” but the line does not show {longest!r}"
    return None


def check_evidence(report: dict[str, Any], base: Path = ROOT) -> list[str]:
    """Problems with the lines a report (timeline.json) cites; [] when every ``file:line``
    shows its claim. Relative paths are read from ``base`` (where the tool ran).

    Timeline entries: ``start``/``end``/``peak``/``upstream_failing`` cite a failing access
    line (5xx, 000, 444 or one of ``impact.failing_statuses``), except ``start``/``end``/
    ``peak`` of an incident with no failed request (any request or error line), and a
    ``start``/``end`` the tool says came from a host's silence (an access line) or an
    error-log burst (an error line); ``recovery``
    an access line; alerts a line of their alert; reloads, stops, starts and crashes the
    Nginx message; error kinds a line with their literal (:data:`ERROR_LITERALS`); other
    kinds a line that exists. Every ``file:line`` in ``causes[].evidence[]`` must exist;
    after "reload on" it is a reload line, after an error kind or a quoted message the line
    shows it.
    """
    files = _Files(base)
    problems: list[str] = []
    for k, inc in enumerate(report.get("incidents", []), 1):
        impact = inc.get("impact") or {}
        for entry in inc.get("timeline", []):
            src, kind = entry.get("source"), entry.get("kind", "")
            if not src:
                continue
            path, _, num = str(src).rpartition(":")
            if not num.isdigit():
                problems.append(f"incident {k} {kind}: source {src!r} is not path:line")
                continue
            line, why = files.line(path, int(num))
            if line is None:
                problems.append(f"incident {k} {kind}: {why}")
                continue
            edge = (inc.get("edges") or {}).get(kind) if kind in ("start", "end") else None
            basis = edge.get("basis") if isinstance(edge, dict) else None
            what = _entry_problem(kind, line, str(entry.get("text", "")), impact, basis)
            if what:
                problems.append(f"incident {k} {kind} cites {src}: {what}: {line[:160]!r}")
        for c, cause in enumerate(inc.get("causes", []), 1):
            for ev in cause.get("evidence", []):
                text = str(ev)
                last = 0
                for m in _CITE.finditer(text):
                    path, num = m.group(1), int(m.group(2))
                    before, last = text[last : m.start()], m.end()
                    full = Path(path) if Path(path).is_absolute() else base / path
                    if not _LOGLIKE.search(path) and not full.is_file():
                        continue  # not a file citation (an address, a URL)
                    line, why = files.line(path, num)
                    if line is None:
                        problems.append(f"incident {k} cause {c} evidence: {why}")
                        continue
                    what = _evidence_problem(before, line)
                    if what:
                        problems.append(
                            f"incident {k} cause {c} evidence cites {path}:{num}: {what}: "
                            f"{line[:160]!r}"
                        )
    return problems


def assert_self_check(result: dict[str, Any]) -> None:
    """The harness's own truth agrees with the raw access log (else the scenario is broken)."""
    c = result["self_check"]
    assert abs(c["clock_skew_s"]) < MAX_SKEW_S, (
        f"Nginx's fake clock is {c['clock_skew_s']} s off the harness's: is libfaketime working?"
    )
    assert c["equal"], (
        "harness self-check failed: error statuses per minute in the edge's access log "
        f"{c['log_errors_per_minute']} != those its clients received "
        f"{c['client_errors_per_minute']} "
        f"(responses without Nginx's clock: {c['responses_without_nginx_clock']})"
    )


def assert_tool_matches(result: dict[str, Any]) -> None:
    """Incidents, edges within 60 s, users_pct within 2 points (or within the tool's own
    range when it estimated them), the expected cause (and culprit host), and evidence
    lines that show their claims."""
    assert result["pass"], (
        f"{result['scenario']}: the tool disagrees with the truth: {'; '.join(result['why'])}\n"
        f"truth: {json.dumps(result['truth'])}\ntool: {json.dumps(result['tool'])}\n"
        f"evidence problems: {json.dumps(result.get('evidence_problems', []))}\n"
        f"logs: {result['dir']}"
    )
