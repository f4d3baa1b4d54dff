#!/usr/bin/env python3
"""Generate a large, realistic Nginx access log for the benchmarks.

    python benchmarks/generate.py -o benchmarks/out/access-2000000.log        # 2M lines, ~450 MB
    python benchmarks/generate.py --lines 10000000 -o benchmarks/out/access-10000000.log
    python benchmarks/generate.py --format custom --gzip -o benchmarks/out/custom.log.gz

Stdlib only and deterministic: every draw comes from ``random.Random(--seed)``, nothing
reads the clock, so the same options give the same bytes. Fast because every line is glued
from pre-made pieces (client prefix, timestamp of the second, request/status/size/referer
middle, client user agent, format tail) and written in batches of whole minutes.

What is in it:

- ``--format combined`` (Nginx's default) or ``custom``: ``main`` (combined +
  ``"$http_x_forwarded_for"``) + `` $request_time $upstream_addr $upstream_status
  $upstream_response_time``, with retries written the Nginx way (``10.0.1.11:80,
  10.0.1.12:80`` / ``502, 200`` / ``0.001, 0.020``) and ``-`` where no upstream was used;
- timestamps increasing over ``--hours`` with a daily shape (low at 04:00, high at 15:00
  UTC), offset ``+0000``;
- ``--clients`` addresses (about 12% IPv6 in ``2001:db8::/32``) with Zipf-like activity
  and a stable user agent each; some agents carry escaped bytes as Nginx writes them
  (``\\x22``, ``\\xC3\\xA9``);
- shop-like paths, methods, statuses and sizes; referers; crawlers and scanners;
  TLS handshakes sent to the plain-HTTP port (``"\\x16\\x03\\x01..." 400 157``) and
  connections closed before a request (``"-" 400 0``);
- a monitoring probe (``Blackbox Exporter/0.23.0`` from 10.0.0.50) on ``/healthz``;
- an incident that looks like a real outage: from 40% of the span, for 40 minutes, the
  clients whose address hashes (CRC-32) into the lowest ``--affected`` share get 502 from
  the upstream on every proxied request (robots.txt, redirects and scanner 404s are
  answered by Nginx itself), and some of them give up first (499, 1 in 20); the window
  holds ``--incident-share`` of the lines (default 30%: users retry, so an outage is busy,
  and an SRE copies "the outage plus an hour or two" rather than a whole day).

Prints what it wrote: lines, bytes, time span, incident window (UTC), share of users
affected (clients with a 502 in the window out of the clients active in it).
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import math
import random
import sys
import time
import zlib
from pathlib import Path
from typing import IO, Any

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PROBE_ADDR = "10.0.0.50"
PROBE_UA = "Blackbox Exporter/0.23.0"
PROBE_INTERVAL_S = 15
SITE = "https://shop.example.com"
UPSTREAMS = ("10.0.1.11:80", "10.0.1.12:80", "10.0.1.13:80", "10.0.1.14:80")
BROKEN_UPSTREAM = "10.0.1.13:80"
#: Nginx 1.22.1 default error pages (server_tokens on): body sizes.
ERROR_BODY = {400: 157, 403: 153, 404: 153, 500: 177, 502: 157, 503: 197, 504: 167}
POOL_SIZE = 40_000  # request "middles" drawn once, then picked uniformly
SPECIAL_SHARE = 0.003  # TLS garbage + "-" requests + scanner oddities, share of lines

# --------------------------------------------------------------------------------------
# User agents: (agent, share). Escaped bytes are written as Nginx's escape=default does.
# --------------------------------------------------------------------------------------

BROWSERS: tuple[tuple[str, float], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        0.20,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        0.07,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", 0.05),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.2 Safari/605.1.15",
        0.07,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        0.17,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        0.16,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", 0.02),
    ("ShopApp/4.12.1 (iPhone; iOS 17.2; Scale/3.00)", 0.06),
    ("okhttp/4.12.0", 0.06),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        0.03,
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0.015),
    ("curl/8.5.0", 0.01),
    ("python-requests/2.31.0", 0.01),
    # Non-ASCII and quotes as Nginx logs them (uppercase \xHH, docs/nginx-facts.md).
    ("Mozilla/5.0 (Linux; Android 13; Caf\\xC3\\xA9Phone) AppleWebKit/537.36 Mobile", 0.008),
    ("Mozilla/5.0 (compatible; \\x22Monitor\\x22/1.0; +https://example.org/bot)", 0.004),
    ("Mozilla/5.0 (Windows NT 10.0) \\xD0\\x9F\\xD1\\x80\\xD0\\xBE\\xD0\\xB1\\xD0\\xB0/1.0", 0.003),
)

SEARCH_TERMS = ("shoes", "red+dress", "jacket", "caf%C3%A9", "laptop+bag", "socks", "hat")
CATEGORIES = ("women", "men", "kids", "shoes", "accessories", "sale", "new-in", "home")
EXTERNAL_REFERERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://t.co/x7Yd2kQ1",
    "https://www.facebook.com/",
    "android-app://com.google.android.gm/",
)


def time_local(epoch: int) -> str:
    """``$time_local`` for a UTC epoch second: ``20/Mar/2023:12:30:01 +0000``."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def nginx_escape(data: bytes) -> str:
    """Nginx ``escape=default``: control bytes, ``"``, ``\\``, 0x7F and >= 0x80 as \\xHH."""
    out = []
    for b in data:
        if b < 0x20 or b in (0x22, 0x5C) or b >= 0x7F:
            out.append(f"\\x{b:02X}")
        else:
            out.append(chr(b))
    return "".join(out)


# --------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------


def ipv4(rng: random.Random, first: int) -> str:
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def make_clients(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct addresses: public-looking IPv4, about 12% IPv6 in 2001:db8::/32."""
    seen: set[str] = set()
    out: list[str] = []
    first_octets = [o for o in range(1, 224) if o not in (10, 127, 169, 172, 192, 100)]
    while len(out) < n:
        if rng.random() < 0.12:
            groups = [f"{rng.getrandbits(16):x}" for _ in range(4)]
            addr = f"2001:db8:{groups[0]}:{groups[1]}::{groups[2]}:{groups[3]}"
        else:
            addr = ipv4(rng, rng.choice(first_octets))
        if addr not in seen:
            seen.add(addr)
            out.append(addr)
    return out


def is_affected(addr: str, share: float) -> bool:
    """Stable choice of the clients the incident hits: CRC-32 of the address."""
    return zlib.crc32(addr.encode()) % 10_000 < share * 10_000


# --------------------------------------------------------------------------------------
# Request pool: (middle, tail, middle_502, tail_502)
#   middle = 'GET /x HTTP/1.1" 200 123 "referer" "'      (after '[time] "')
#   tail   = '\n' (combined) or ' "xff" rt ua us urt\n' is split: xff is per client, so
#            tail here = ' rt ua us urt' (custom) or '' (combined); the line ends later.
# --------------------------------------------------------------------------------------


def _size(rng: random.Random, lo: int, hi: int) -> int:
    """Log-uniform size in [lo, hi]."""
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _request(rng: random.Random) -> tuple[str, str, int, int, str, bool]:
    """One request: method, target, status, body bytes, referer, dynamic (goes upstream)."""
    r = rng.random()
    page_ref = rng.choice(
        (
            SITE + "/",
            f"{SITE}/products/{rng.randrange(1000, 99999)}",
            f"{SITE}/c/{rng.choice(CATEGORIES)}",
            f"{SITE}/search?q={rng.choice(SEARCH_TERMS)}",
            f"{SITE}/cart",
        )
    )
    if r < 0.30:  # static assets (proxied to the app, which serves them)
        kind = rng.random()
        if kind < 0.45:
            pid = rng.randrange(1000, 99999)
            target = f"/static/img/products/{pid}/{rng.choice(('400x400', '800x800'))}.webp"
            size = _size(rng, 8_000, 250_000)
        elif kind < 0.70:
            bundle = rng.choice(("app", "vendor", "checkout"))
            target = f"/static/js/{bundle}.{rng.getrandbits(32):08x}.js"
            size = _size(rng, 20_000, 600_000)
        elif kind < 0.88:
            target = f"/static/css/main.{rng.getrandbits(32):08x}.css"
            size = _size(rng, 10_000, 90_000)
        elif kind < 0.95:
            target = f"/static/fonts/inter-{rng.choice(('400', '600', '700'))}.woff2"
            size = _size(rng, 20_000, 60_000)
        else:
            target = "/favicon.ico"
            size = 15_086
        s = rng.random()
        if s < 0.22:
            status, size = 304, 0
        elif s < 0.225:
            status, size = 404, ERROR_BODY[404]
        elif s < 0.235:
            status, size = 206, rng.randrange(1, size)
        else:
            status = 200
        return "GET", target, status, size, page_ref, True
    if r < 0.58:  # pages
        kind = rng.random()
        if kind < 0.12:
            target = "/"
        elif kind < 0.55:
            target = f"/products/{rng.randrange(1000, 99999)}"
        elif kind < 0.75:
            target = f"/c/{rng.choice(CATEGORIES)}?page={rng.randrange(1, 12)}"
        elif kind < 0.88:
            target = f"/search?q={rng.choice(SEARCH_TERMS)}&sort=price"
        elif kind < 0.94:
            target = "/cart"
        else:
            target = rng.choice(("/login", "/account/orders", "/checkout", "/help/shipping"))
        ref = "-" if rng.random() < 0.25 else rng.choice((page_ref, *EXTERNAL_REFERERS))
        return "GET", target, *_dynamic_status(rng, 6_000, 80_000), ref, True
    if r < 0.93:  # JSON API (web app and mobile app)
        kind = rng.random()
        if kind < 0.35:
            pid = rng.randrange(1000, 99999)
            method, target = "GET", f"/api/v2/products/{pid}?locale=en-US&currency=USD"
        elif kind < 0.55:
            method, target = "GET", "/api/v2/cart"
        elif kind < 0.68:
            method, target = "POST", "/api/v2/cart/items"
        elif kind < 0.78:
            method, target = "GET", f"/api/v2/recommendations?for={rng.randrange(1000, 99999)}"
        elif kind < 0.86:
            method, target = "POST", "/api/v2/events"
        elif kind < 0.91:
            method, target = "GET", "/api/v2/session"
        elif kind < 0.94:
            method, target = "DELETE", f"/api/v2/cart/items/{rng.randrange(1, 40)}"
        elif kind < 0.96:
            method, target = "PUT", "/api/v2/account/address"
        elif kind < 0.98:
            method, target = "OPTIONS", "/api/v2/cart"
        else:
            method, target = "POST", "/api/v2/checkout"
        ref = "-" if rng.random() < 0.3 else page_ref
        return method, target, *_dynamic_status(rng, 150, 6_000), ref, True
    # the rest: crawler files, redirects, HEAD checks, scanners
    kind = rng.random()
    if kind < 0.25:
        return "GET", "/robots.txt", 200, 312, "-", False
    if kind < 0.40:
        return (
            "GET",
            f"/sitemap-{rng.randrange(1, 30)}.xml",
            200,
            _size(rng, 5_000, 90_000),
            "-",
            True,
        )
    if kind < 0.55:
        return "GET", f"/p/{rng.randrange(1000, 99999)}", 301, 169, "-", False
    if kind < 0.70:
        return "HEAD", "/", 200, 0, "-", True
    target = rng.choice(
        (
            "/wp-login.php",
            "/.env",
            "/.git/config",
            "/phpmyadmin/index.php",
            "/cgi-bin/luci/;stok=/locale",
            "/admin/config.php",
            "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
        )
    )
    method = "POST" if rng.random() < 0.2 else "GET"
    return method, target, 404, ERROR_BODY[404], "-", False


def _dynamic_status(rng: random.Random, lo: int, hi: int) -> tuple[int, int]:
    s = rng.random()
    if s < 0.90:
        return 200, _size(rng, lo, hi)
    if s < 0.93:
        return 302, 0
    if s < 0.955:
        return 404, _size(rng, 3_000, 6_000)
    if s < 0.97:
        return 304, 0
    if s < 0.98:
        return 401, 61
    if s < 0.985:
        return 403, ERROR_BODY[403]
    if s < 0.993:
        return 499, 0
    if s < 0.997:
        return 500, _size(rng, 200, 2_000)
    if s < 0.999:
        return 503, ERROR_BODY[503]
    return 504, ERROR_BODY[504]


def _upstream(rng: random.Random, status: int) -> tuple[str, str, str, float]:
    """``$upstream_addr``, ``$upstream_status``, ``$upstream_response_time``, request time."""
    if status == 504:
        addr = rng.choice(UPSTREAMS)
        return addr, "504", "60.001", 60.002
    t = round(rng.lognormvariate(math.log(0.035), 0.9), 3)
    if status == 499:
        addr = rng.choice(UPSTREAMS)
        return addr, "-", f"{t:.3f}", t + 0.001
    if rng.random() < 0.01:  # one failed attempt, retried on the next peer
        a, b = rng.sample(UPSTREAMS, 2)
        first = rng.choice(("502", "504"))
        t0 = 0.001 if first == "502" else 5.0
        return f"{a}, {b}", f"{first}, {status}", f"{t0:.3f}, {t:.3f}", t0 + t + 0.001
    return rng.choice(UPSTREAMS), str(status), f"{t:.3f}", t + rng.choice((0.0, 0.0, 0.001))


def make_pool(
    rng: random.Random, custom: bool, size: int
) -> tuple[list[str], list[str], list[str | None], list[str]]:
    """Request middles and format tails, plus their incident (502) variant."""
    mids: list[str] = []
    tails: list[str] = []
    mids502: list[str | None] = []
    tails502: list[str] = []
    for _ in range(size):
        method, target, status, nbytes, ref, dynamic = _request(rng)
        reqline = f"{method} {target} HTTP/{rng.choice(('1.1', '1.1', '1.1', '2.0'))}"
        mids.append(f'{reqline}" {status} {nbytes} "{ref}" "')
        if custom:
            if dynamic:
                ua, us, urt, rt = _upstream(rng, status)
                tails.append(f" {rt:.3f} {ua} {us} {urt}")
            else:
                tails.append(f" {rng.choice(('0.000', '0.000', '0.001', '0.002'))} - - -")
        else:
            tails.append("")
        if dynamic:
            mids502.append(f'{reqline}" 502 {ERROR_BODY[502]} "{ref}" "')
            if custom:
                if rng.random() < 0.15:  # proxy_next_upstream to another broken peer
                    tails502.append(f" 0.003 {BROKEN_UPSTREAM}, 10.0.1.12:80 502, 502 0.001, 0.002")
                else:
                    tails502.append(f" 0.002 {BROKEN_UPSTREAM} 502 0.001")
            else:
                tails502.append("")
        else:
            mids502.append(None)
            tails502.append("")
    return mids, tails, mids502, tails502


def make_specials(rng: random.Random, custom: bool, n: int) -> list[tuple[str, str]]:
    """Whole lines but the timestamp: (prefix up to '[', rest after the time)."""
    out: list[tuple[str, str]] = []
    scanners = [
        f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{i}"
        for i in range(1, 60)
    ]
    for _ in range(n):
        addr = rng.choice(scanners)
        k = rng.random()
        if k < 0.45:  # TLS ClientHello on the plain-HTTP port
            hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + rng.randbytes(
                rng.randrange(8, 40)
            )
            req, status, nbytes, ua = nginx_escape(hello), 400, ERROR_BODY[400], "-"
            tail = " 0.064 - - -" if custom else ""
        elif k < 0.85:  # connection closed before a request line
            req, status, nbytes, ua = "-", 400, 0, "-"
            tail = f" {rng.choice(('0.000', '0.512', '4.998'))} - - -" if custom else ""
        elif k < 0.95:  # raw bytes in the request line
            req = nginx_escape(b'GET /caf\xc3\xa9/"x" HTTP/1.1')
            status, nbytes, ua = 404, ERROR_BODY[404], "curl/8.5.0"
            tail = " 0.000 - - -" if custom else ""
        else:  # open-proxy probe
            req, status, nbytes = "CONNECT www.example.org:443 HTTP/1.1", 400, ERROR_BODY[400]
            ua = "-"
            tail = " 0.000 - - -" if custom else ""
        xff = ' "-"' if custom else ""
        out.append((f"{addr} - - [", f'] "{req}" {status} {nbytes} "-" "{ua}"{xff}{tail}\n'))
    return out


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def minute_counts(
    rng: random.Random, total: int, start: int, minutes: int, busy: range, share: float
) -> list[int]:
    """Split ``total`` lines over minutes with a daily shape (trough 04:00, peak 15:00 UTC);
    when ``share`` > 0 the minutes in ``busy`` (the incident) hold that share of them."""
    weights = []
    for m in range(minutes):
        hour = ((start + 60 * m) % 86_400) / 3600.0
        shape = 1.0 + 0.7 * math.cos(2 * math.pi * (hour - 15.0) / 24.0)
        weights.append(max(0.05, shape * rng.uniform(0.93, 1.07)))
    inside = sum(weights[m] for m in busy)
    outside = sum(weights) - inside
    if 0 < share < 1 and inside > 0 and outside > 0:
        scale = share / (1 - share) * outside / inside
        for m in busy:
            weights[m] *= scale
    wsum = sum(weights)
    counts = []
    acc = 0.0
    prev = 0
    for w in weights:
        acc += w
        cur = round(acc * total / wsum)
        counts.append(cur - prev)
        prev = cur
    return counts


def generate(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(f"incident-timeline/benchmarks|{args.seed}")
    custom = args.format == "custom"
    start = calendar.timegm(time.strptime(args.start, "%Y-%m-%dT%H:%M:%SZ"))
    span = int(args.hours * 3600)
    if span < 60:
        raise SystemExit("--hours must cover at least a minute")
    minutes = math.ceil(span / 60)

    clients = make_clients(rng, args.clients)
    ua_names = [b[0] for b in BROWSERS]
    ua_weights = [b[1] for b in BROWSERS]
    agents = rng.choices(ua_names, weights=ua_weights, k=len(clients))
    # 5% come through a proxy that sets X-Forwarded-For.
    xffs = [ipv4(rng, rng.randrange(11, 200)) if rng.random() < 0.05 else "-" for _ in clients]
    prefixes = [f"{c} - - [" for c in clients]
    if custom:
        suffixes = [f'{a}" "{x}"' for a, x in zip(agents, xffs, strict=True)]
    else:
        suffixes = [f'{a}"' for a in agents]
    affected = [is_affected(c, args.affected) for c in clients]
    # Zipf-like activity: client i has weight 1/(i+10)^0.9, shuffled over addresses.
    order = list(range(len(clients)))
    rng.shuffle(order)
    cum: list[float] = []
    acc = 0.0
    for rank in order:
        acc += 1.0 / (rank + 10) ** 0.9
        cum.append(acc)
    # A table of 2^20 draws, then uniform picks: much cheaper than bisecting every line.
    client_table = rng.choices(range(len(clients)), cum_weights=cum, k=1 << 20)

    mids, tails, mids502, tails502 = make_pool(rng, custom, POOL_SIZE)
    # A user who gave up: Nginx logs 499 and no body; the upstream had not answered.
    mids499 = [m.replace(f'" 502 {ERROR_BODY[502]} "', '" 499 0 "') if m else "" for m in mids502]
    tails499 = [f" 1.000 {BROKEN_UPSTREAM} - 1.000" if custom else "" for _ in mids502]
    n_special = max(1, int(POOL_SIZE * SPECIAL_SHARE / (1 - SPECIAL_SHARE)))
    specials = make_specials(rng, custom, n_special)
    pool_total = POOL_SIZE + n_special

    probe_tail = (' "-" 0.001 10.0.1.11:80 200 0.001' if custom else "") + "\n"
    probe_head = f"{PROBE_ADDR} - - ["
    probe_mid = f'] "GET /healthz HTTP/1.1" 200 2 "-" "{PROBE_UA}"{probe_tail}'
    # The probe every 15 s, unless that would be more than 1% of the lines.
    if args.lines >= 100:
        interval = max(PROBE_INTERVAL_S, math.ceil(span / (args.lines * 0.01)))
        n_probe = math.ceil(span / interval)
    else:
        interval, n_probe = span + 1, 0
    traffic = args.lines - n_probe
    inc_start = start + int(span * args.incident_at)
    inc_end = min(start + span, inc_start + int(args.incident_minutes * 60))
    busy = range((inc_start - start) // 60, math.ceil((inc_end - start) / 60))
    counts = minute_counts(rng, traffic, start, minutes, busy, args.incident_share)
    active: set[int] = set()
    hit: set[int] = set()
    n502 = n499 = in_window = 0

    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    raw = open(out_path, "wb")  # noqa: SIM115 (closed at the end)
    fh: IO[bytes] = raw
    if args.gzip:
        fh = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)

    next_probe = 0  # seconds from start
    written = 0
    lines_done = 0
    buf: list[str] = []
    buffered = 0
    choices = rng.choices
    sixty = range(60)
    pool_ids = range(pool_total)
    for m in range(minutes):
        n = counts[m]
        base = start + 60 * m
        stamps = [time_local(base + s) for s in sixty]
        secs = sorted(choices(sixty, k=n))
        cids = choices(client_table, k=n)
        kids = choices(pool_ids, k=n)
        window = base + 60 > inc_start and base < inc_end
        for s, c, k in zip(secs, cids, kids, strict=True):
            while next_probe <= 60 * m + s and next_probe < span:
                buf.append(probe_head + time_local(start + next_probe) + probe_mid)
                next_probe += interval
            if k >= POOL_SIZE:
                head, rest = specials[k - POOL_SIZE]
                buf.append(head + stamps[s] + rest)
                continue
            if window and inc_start <= base + s < inc_end:
                active.add(c)
                in_window += 1
                mid = mids502[k]
                if affected[c] and mid is not None:
                    hit.add(c)
                    if (k + c) % 20 == 0:
                        # The user gave up before the upstream answered.
                        n499 += 1
                        buf.append(
                            prefixes[c] + stamps[s] + '] "' + mids499[k] + suffixes[c]
                            + tails499[k] + "\n"
                        )
                        continue
                    n502 += 1
                    buf.append(
                        prefixes[c] + stamps[s] + '] "' + mid + suffixes[c] + tails502[k] + "\n"
                    )
                    continue
            buf.append(prefixes[c] + stamps[s] + '] "' + mids[k] + suffixes[c] + tails[k] + "\n")
        buffered += n
        if buffered >= 200_000 or m == minutes - 1:
            if m == minutes - 1:
                while next_probe < span:
                    buf.append(probe_head + time_local(start + next_probe) + probe_mid)
                    next_probe += interval
            data = "".join(buf).encode("ascii")
            fh.write(data)
            written += len(data)
            lines_done += len(buf)
            buf = []
            buffered = 0
    fh.close()
    if fh is not raw:
        raw.close()
    assert lines_done == args.lines, (lines_done, args.lines)
    return {
        "path": str(out_path),
        "format": args.format,
        "lines": lines_done,
        "bytes_uncompressed": written,
        "bytes_on_disk": out_path.stat().st_size,
        "first": iso(start),
        "last": iso(start + span - 1),
        "incident_start": iso(inc_start),
        "incident_end": iso(inc_end),
        "users_active_in_window": len(active),
        "users_affected": len(hit),
        "requests_502": n502,
        "requests_499_in_window": n499,
        "lines_in_window": in_window,
        "probe_lines": n_probe,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=2_000_000, help="lines to write (default 2M)")
    p.add_argument("--hours", type=float, default=6.0, help="time span (default 6)")
    p.add_argument("--format", choices=("combined", "custom"), default="combined")
    p.add_argument("--clients", type=int, default=40_000, help="distinct client addresses")
    p.add_argument("--gzip", action="store_true", help="gzip the output (level 6, mtime 0)")
    p.add_argument("--seed", default="1", help="random seed (any string)")
    p.add_argument("--start", default="2024-03-11T00:00:00Z", help="first second, UTC")
    p.add_argument("--incident-at", type=float, default=0.4, help="start, share of the span")
    p.add_argument("--incident-minutes", type=float, default=40.0, help="0: no incident")
    p.add_argument(
        "--incident-share",
        type=float,
        default=0.30,
        help="share of the lines logged in the incident window (default 0.30; 0: the daily "
        "shape alone)",
    )
    p.add_argument("--affected", type=float, default=0.20, help="share of clients hit")
    p.add_argument("-o", "--output", required=True, help="file to write")
    args = p.parse_args(argv)
    if args.lines < 1 or args.clients < 1:
        p.error("--lines and --clients must be positive")
    if not 0 <= args.incident_share < 1:
        p.error("--incident-share must be in [0, 1)")
    t0 = time.perf_counter()
    info = generate(args)
    elapsed = time.perf_counter() - t0
    lines = int(info["lines"])
    raw_bytes = int(info["bytes_uncompressed"])
    active = int(info["users_active_in_window"])
    hit = int(info["users_affected"])
    pct = 100.0 * hit / active if active else 0.0
    print(
        f"wrote {info['path']}: {lines:,} lines ({info['format']}), {raw_bytes:,} bytes "
        f"({raw_bytes / lines:.0f} B/line"
        + (f"; {int(info['bytes_on_disk']):,} gzipped" if args.gzip else "")
        + f") in {elapsed:.1f} s\n"
        f"span {info['first']} .. {info['last']}\n"
        f"incident window (UTC) {info['incident_start']} .. {info['incident_end']}: "
        f"{hit:,} of {active:,} active users affected ({pct:.1f}%), "
        f"{int(info['requests_502']):,} requests answered 502, "
        f"{int(info['requests_499_in_window']):,} given up (499); "
        f"{int(info['lines_in_window']):,} lines in the window "
        f"({100.0 * int(info['lines_in_window']) / lines:.1f}%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
