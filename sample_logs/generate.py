#!/usr/bin/env python3
"""Generate the bundled sample incidents under ``sample_logs/``.

    python sample_logs/generate.py            # (re)write quiet-day/
    python sample_logs/generate.py --check    # regenerate into a temp dir, compare bytes

``seed-outage/`` is no longer written here: it is recorded from a real Nginx run by
``record_seed.py``. The synthetic seed-outage is still generated (into a temporary folder,
then dropped) because quiet-day's traffic draw is chosen together with it; that keeps
quiet-day byte-identical to what it always was.

Stdlib only and fully deterministic: every random draw comes from ``random.Random`` seeded
with a fixed string, nothing reads the clock, sets are never iterated unsorted, so the
output is byte-identical on every run. See README.md next to this file for the story, the
topology and the Nginx configuration the logs correspond to.

The lines follow Nginx 1.22.1's own layouts (src/http/modules/ngx_http_log_module.c for
``$time_local``/``main``; src/core/ngx_log.c and ngx_http_log_error_handler for the error
log) and its messages verbatim; docs/nginx-facts.md lists the facts, with where the
Nginx source shows each. The data are synthetic.
"""

from __future__ import annotations

import argparse
import binascii
import bisect
import calendar
import filecmp
import ipaddress
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = "incident-timeline/sample_logs/v1"

# --------------------------------------------------------------------------------------
# Topology (README.md shows the matching nginx.conf snippets)
# --------------------------------------------------------------------------------------

SERVER_NAME = "shop.example.com"
SITE = "https://shop.example.com"
LB_ADDR = "10.0.0.10"
PROBE_ADDR = "10.0.0.50"
PROBE_UA = "Blackbox Exporter/0.23.0"
#: (host, address, weight) in the order of the ``server`` lines of ``upstream shop_backend``.
WEB_HOSTS: tuple[tuple[str, str, int], ...] = (
    ("web-1", "10.0.1.11", 6),
    ("web-2", "10.0.1.12", 6),
    ("web-3", "10.0.1.13", 3),
    ("web-4", "10.0.1.14", 5),
)
BROKEN = 2  # index of web-3 in WEB_HOSTS
TOTAL_WEIGHT = sum(w for _, _, w in WEB_HOSTS)

#: Long-running master / worker pids (Nginx started at boot; workers from an earlier reload).
LB_MASTER, LB_WORKERS = 811, (812, 813)
WEB_MASTER = {"web-1": 1009, "web-2": 998, "web-3": 1004, "web-4": 1012}

#: Target share of the users active in the outage window that get at least one 502.
TARGET_AFFECTED = 0.15
#: Browser sessions started per minute at the daily-shape peak. Tuned so that the LB sees
#: about 30 requests a minute in all (users, crawlers, scanners and the 4/min probe): the
#: brief asked for "around 50/min" *and* "under ~8 MB for all of sample_logs"; with ~245-byte
#: lines logged twice (LB + web host) in two 4.5 h bundles, 50/min would be ~13 MB, so the
#: size limit wins. ~8.5 gives ~50 req/min (and ~13 MB).
SESSIONS_PER_MIN = 4.6
USER_POOL = 900
KEEPALIVE_TIMEOUT = 65.0
#: No web host may go this long without a request outside the outage (see generate()).
IDLE_LIMIT_S = 360.0  # Debian nginx.conf: keepalive_timeout 65;


@dataclass(frozen=True)
class Scenario:
    """One bundled incident folder."""

    name: str
    date: tuple[int, int, int]
    start: str  # HH:MM:SS UTC
    end: str
    incident: bool


SEED_OUTAGE = Scenario("seed-outage", (2023, 3, 20), "11:00:00", "15:30:00", True)
QUIET_DAY = Scenario("quiet-day", (2023, 3, 13), "11:00:00", "15:30:00", False)


def epoch(date: tuple[int, int, int], hms: str, frac: float = 0.0) -> float:
    """Epoch seconds (UTC) of ``date`` at ``hms`` plus ``frac`` seconds."""
    h, m, s = (int(x) for x in hms.split(":"))
    return calendar.timegm((*date, h, m, s, 0, 0, 0)) + frac


# Incident instants on 2023-03-20 (float seconds; logs show whole seconds).
T_BREAK = epoch(SEED_OUTAGE.date, "12:30:02", 0.046)  # web-3: link removed, nginx -s reload
T_FIX = epoch(SEED_OUTAGE.date, "14:15:04", 0.930)  # web-3: link restored, nginx -s reload
WINDOW = (epoch(SEED_OUTAGE.date, "12:30:00"), epoch(SEED_OUTAGE.date, "14:15:00"))


def rng_for(*parts: object) -> random.Random:
    """A generator seeded from ``SEED`` and ``parts`` (str seeds hash with SHA-512: stable)."""
    return random.Random(SEED + "|" + "|".join(str(p) for p in parts))


def hash_peer(key: str) -> int:
    """The backend Nginx's ``hash $remote_addr;`` (not consistent) picks for ``key``.

    ngx_http_upstream_get_hash_peer: ``((crc32(KEY) >> 16) & 0x7fff) % total_weight`` walked
    over the peers' weights in config order. With ``max_fails=0`` a peer is never marked
    failed, so the first iteration is final (no rehash to another peer).
    """
    w = ((binascii.crc32(key.encode()) >> 16) & 0x7FFF) % TOTAL_WEIGHT
    for i, (_, _, weight) in enumerate(WEB_HOSTS):
        if w < weight:
            return i
        w -= weight
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------
# Clients: users with a stable address and browser, crawlers, scanners
# --------------------------------------------------------------------------------------

BROWSERS: tuple[tuple[str, str, float], ...] = (
    # (user agent, platform, share)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/111.0.0.0 Safari/537.36", "desktop", 0.20),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/110.0.0.0 Safari/537.36", "desktop", 0.07),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/110.0.0.0 Safari/537.36 Edg/110.0.1587.63", "desktop", 0.07),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/110.0",
     "desktop", 0.05),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/111.0.0.0 Safari/537.36", "desktop", 0.07),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/16.3 Safari/605.1.15", "desktop", 0.06),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/111.0.0.0 Safari/537.36", "desktop", 0.01),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/110.0",
     "desktop", 0.01),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_3_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/16.3 Mobile/15E148 Safari/604.1", "ios", 0.15),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/16.2 Mobile/15E148 Safari/604.1", "ios", 0.04),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_7_3 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/15.6.1 Mobile/15E148 Safari/604.1", "ios", 0.02),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_3_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) CriOS/111.0.5563.72 Mobile/15E148 Safari/604.1", "ios", 0.02),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/111.0.0.0 Mobile Safari/537.36", "android", 0.15),
    ("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/20.0 Chrome/106.0.5249.126 Mobile Safari/537.36", "android", 0.04),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/110.0.0.0 Mobile Safari/537.36", "android", 0.04),
)
GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT_UA = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
SCANNER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/81.0.4044.129 Safari/537.36",
    "python-requests/2.28.2",
    "Go-http-client/1.1",
    "Mozilla/5.0 zgrab/0.x",
    "curl/7.88.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:102.0) Gecko/20100101 Firefox/102.0",
)
SCANNER_PATHS = (
    "/wp-login.php", "/.env", "/.git/config", "/wp-includes/wlwmanifest.xml", "/xmlrpc.php",
    "/wp-admin/setup-config.php?step=1", "/.aws/credentials", "/phpmyadmin/index.php",
    "/admin/.env", "/config.json", "/owa/auth/logon.aspx", "/.DS_Store",
)
#: First octets of ISP address space the synthetic users come from (no private, shared,
#: loopback, link-local, documentation, benchmarking or multicast ranges).
USER_FIRST_OCTETS = (
    2, 5, 24, 31, 37, 46, 47, 50, 62, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 108,
    109, 151, 173, 174, 176, 178, 184, 188, 212, 213, 217,
)
SCANNER_PREFIXES = (
    (45, 95), (64, 62), (143, 198), (159, 203), (167, 94), (185, 220), (193, 35), (20, 106),
    (138, 68), (162, 243), (194, 165), (89, 248),
)
GOOGLEBOT_IPS = ("66.249.66.1", "66.249.66.87", "66.249.68.35", "66.249.79.102",
                 "66.249.72.201")
BINGBOT_IPS = ("157.55.39.58", "40.77.167.21", "207.46.13.144")


@dataclass
class Client:
    """One client address at the LB."""

    idx: int
    kind: str  # user | googlebot | bingbot | scanner
    ua: str
    platform: str
    weight: float
    v6: bool = False
    ip: str = ""
    web3: bool = False  # hashes to web-3 (decided before the address is drawn)
    backend: int = -1


def build_pool() -> list[Client]:
    """Users, crawlers and scanners shared by both bundles (same customers a week apart)."""
    rng = rng_for("pool")
    uas = [b[0] for b in BROWSERS]
    plats = [b[1] for b in BROWSERS]
    shares = [b[2] for b in BROWSERS]
    pool: list[Client] = []
    for i in range(USER_POOL):
        k = rng.choices(range(len(uas)), weights=shares)[0]
        # a few heavy shoppers, many occasional ones
        weight = math.exp(rng.gauss(0.0, 0.8))
        pool.append(Client(i, "user", uas[k], plats[k], weight, v6=rng.random() < 0.08))
    for ip in GOOGLEBOT_IPS:
        pool.append(Client(len(pool), "googlebot", GOOGLEBOT_UA, "bot", 1.0, ip=ip))
    for ip in BINGBOT_IPS:
        pool.append(Client(len(pool), "bingbot", BINGBOT_UA, "bot", 1.0, ip=ip))
    for _ in range(60):
        pool.append(Client(len(pool), "scanner", rng.choice(SCANNER_UAS), "bot", 1.0))
    return pool


def draw_ip(rng: random.Random, c: Client, prefixes: list[tuple[int, int]]) -> str:
    """A public-looking address for ``c`` (ISP /16s for users, hosting ranges for scanners)."""
    if c.kind == "scanner":
        a, b = rng.choice(SCANNER_PREFIXES)
        return f"{a}.{b}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if c.v6:
        # 2001:db8::/32 (documentation prefix) with a random /64 and a privacy-style IID;
        # str(IPv6Address) compresses zero runs like ngx_inet6_ntop (longest run of >= 2).
        groups = [0x2001, 0x0DB8] + [rng.randint(0, 0xFFFF) for _ in range(2)]
        groups += [rng.randint(0, 0xFFFF) for _ in range(4)]
        packed = b"".join(g.to_bytes(2, "big") for g in groups)
        return str(ipaddress.IPv6Address(packed))
    a, b = rng.choice(prefixes)
    return f"{a}.{b}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def assign_addresses(pool: list[Client]) -> None:
    """Draw each client's address until ``hash $remote_addr`` sends it where it belongs."""
    rng = rng_for("addresses")
    prefixes = [(rng.choice(USER_FIRST_OCTETS), rng.randint(0, 255)) for _ in range(110)]
    used = {PROBE_ADDR, LB_ADDR}
    for c in pool:
        if c.ip:  # crawlers have fixed addresses; they keep whatever backend they hash to
            c.backend = hash_peer(c.ip)
            c.web3 = c.backend == BROKEN
            used.add(c.ip)
            continue
        crng = rng_for("address", c.idx)
        while True:
            ip = draw_ip(crng, c, prefixes)
            if ip in used:
                continue
            if (hash_peer(ip) == BROKEN) == c.web3:
                break
        c.ip, c.backend = ip, hash_peer(ip)
        used.add(ip)


# --------------------------------------------------------------------------------------
# The shop: routes, sizes, sessions
# --------------------------------------------------------------------------------------

APP_JS = "/static/app.3f9c1a7e.js"
STYLE_CSS = "/static/style.b81d04c2.css"
STATIC_SIZE = {APP_JS: 187342, STYLE_CSS: 48216, "/favicon.ico": 15086}
PRODUCTS = list(range(1001, 1481))
DISCONTINUED = list(range(1481, 1521))  # old product URLs crawlers still know: app 404
SEARCH_TERMS = (
    "running shoes", "rain jacket", "backpack", "wool socks", "trail shoes", "water bottle",
    "headlamp", "tent", "sleeping bag", "gift card", "hiking boots", "fleece", "café mug",
    "kids jacket", "trekking poles", "sale",
)
NGINX_404_SIZE = 153  # nginx/1.22.1 "404 Not Found" page (server_tokens on)
NGINX_502_SIZE = 157  # nginx/1.22.1 "502 Bad Gateway" page
APP_404_GZ = 1093  # the shop's own 404 page, gzipped by the web host
APP_404_PLAIN = 2347  # same page for clients without Accept-Encoding: gzip
APP_500_SIZE = 33  # {"error":"Internal Server Error"}


@dataclass
class Catalog:
    """Per-product facts drawn once."""

    weights: list[float]
    page_size: dict[int, int]
    image_size: dict[int, int]
    missing_images: tuple[int, ...]
    search_size: dict[str, int]


def build_catalog() -> Catalog:
    """Product popularity (Zipf-like), page and image sizes, two products missing an image."""
    rng = rng_for("catalog")
    ranks = list(range(1, len(PRODUCTS) + 1))
    rng.shuffle(ranks)
    weights = [1.0 / (r ** 0.9) for r in ranks]
    page_size = {p: rng.randint(4300, 5200) for p in PRODUCTS + DISCONTINUED}
    image_size = {p: rng.randint(18000, 96000) for p in PRODUCTS}
    by_rank = sorted(PRODUCTS, key=lambda p: ranks[p - PRODUCTS[0]])
    missing = (by_rank[22], by_rank[57])  # images never uploaded for these two
    search_size = {t: rng.randint(3100, 7600) for t in SEARCH_TERMS}
    search_size["café mug"] = 2980  # no results
    return Catalog(weights, page_size, image_size, missing, search_size)


@dataclass
class Req:
    """One request as the LB logs it (``t`` = completion time, float epoch seconds)."""

    t: float
    client: int
    method: str
    path: str
    ref: str
    status: int
    size: int
    kind: str  # page | asset | xhr | probe | bot
    session: int = -1
    dynamic: bool = True  # proxied by the web host to the app (vs. served from disk)


def daily_shape(t: float) -> float:
    """Traffic multiplier: a gentle lunchtime hump around 12:45 UTC."""
    h = (t % 86400) / 3600.0
    return 0.86 + 0.28 * math.exp(-(((h - 12.75) / 1.7) ** 2))


class SessionMaker:
    """Builds the request sequences of browsing sessions."""

    def __init__(self, catalog: Catalog, scenario: Scenario) -> None:
        self.cat = catalog
        self.scn = scenario
        self.static_seen: dict[int, set[str]] = {}  # per user: assets cached today
        self.returning: dict[int, bool] = {}
        self.order_no = 58211 if scenario.incident else 56890

    def _cached(self, rng: random.Random, c: Client, path: str) -> bool:
        seen = self.static_seen.setdefault(c.idx, set())
        if c.idx not in self.returning:
            self.returning[c.idx] = rng.random() < 0.5  # visited before, assets cached
        if path in seen:
            return True
        seen.add(path)
        return self.returning[c.idx] and not path.startswith("/static/img/")

    def session(self, rng: random.Random, c: Client, t0: float, sid: int) -> list[Req]:
        """One visit: pages, their assets, cart XHRs; ends on exit or after checkout."""
        cat = self.cat
        out: list[Req] = []
        cart = rng.choices((0, 1, 2, 3), weights=(70, 18, 8, 4))[0]
        page = rng.choices(("home", "product", "search"), weights=(55, 35, 10))[0]
        pid = self._product(rng)
        prev_url = "-"
        t = t0
        cart_fetched = -1e9
        for n in range(14):
            if page == "home":
                path, size = "/", rng.randint(5950, 6380)
            elif page == "product":
                path, size = f"/products/{pid}", cat.page_size[pid] + rng.randint(-30, 30)
            elif page == "search":
                term = rng.choice(SEARCH_TERMS)
                path = "/search?q=" + urllib.parse.quote_plus(term)
                size = cat.search_size[term] + rng.randint(-40, 40)
            elif page == "cart":
                path, size = "/cart", 3010 + 160 * cart + rng.randint(-25, 25)
            elif page == "checkout":
                path, size = "/checkout", 3920 + 150 * cart + rng.randint(-25, 25)
            else:
                raise AssertionError(page)
            t += rng.uniform(0.02, 0.25)
            out.append(Req(t, c.idx, "GET", path, prev_url, 200, size, "page", sid))
            url = SITE + path
            tp = t
            if n == 0:
                for asset in (STYLE_CSS, APP_JS):
                    if not self._cached(rng, c, asset):
                        out.append(Req(tp + rng.uniform(0.05, 0.6), c.idx, "GET", asset, url,
                                       200, STATIC_SIZE[asset], "asset", sid, dynamic=False))
                if not self._cached(rng, c, "/favicon.ico"):
                    out.append(Req(tp + rng.uniform(0.4, 1.5), c.idx, "GET", "/favicon.ico",
                                   url, 200, STATIC_SIZE["/favicon.ico"], "asset", sid,
                                   dynamic=False))
                if c.platform == "ios" and rng.random() < 0.03:
                    for icon in ("/apple-touch-icon-precomposed.png", "/apple-touch-icon.png"):
                        tp += rng.uniform(0.3, 1.2)
                        out.append(Req(tp, c.idx, "GET", icon, "-", 404, NGINX_404_SIZE,
                                       "asset", sid, dynamic=False))
            if page == "product":
                img = f"/static/img/products/{pid}.jpg"
                if not self._cached(rng, c, img):
                    if pid in cat.missing_images:
                        st, sz = 404, NGINX_404_SIZE
                    else:
                        st, sz = 200, cat.image_size[pid]
                    out.append(Req(tp + rng.uniform(0.1, 0.9), c.idx, "GET", img, url, st, sz,
                                   "asset", sid, dynamic=False))
            if tp - cart_fetched > 90.0:  # the mini-cart is cached for 90 s in the page
                cart_fetched = tp
                out.append(Req(tp + rng.uniform(0.3, 1.1), c.idx, "GET", "/api/cart", url,
                               200, self._cart_json(rng, cart), "xhr", sid))
            # what the visitor does next
            think = 3.0 + min(rng.expovariate(1 / 40.0), 300.0)
            if page == "product" and rng.random() < 0.24:
                cart += 1
                ta = t + rng.uniform(3.0, min(think, 25.0))
                out.append(Req(ta, c.idx, "POST", "/api/cart", url, 200,
                               self._cart_json(rng, cart), "xhr", sid))
                cart_fetched = ta
                think = max(think, ta - t + 1.5)
            if page == "checkout":
                if cart and rng.random() < 0.6:
                    tc = t + rng.uniform(35.0, 140.0)
                    out.append(Req(tc, c.idx, "POST", "/checkout", url, 303, 0, "page", sid))
                    self.order_no += rng.randint(1, 3)
                    tc += rng.uniform(0.15, 0.5)
                    out.append(Req(tc, c.idx, "GET", f"/orders/{self.order_no}",
                                   SITE + "/checkout", 200, rng.randint(3480, 3620), "page", sid))
                    out.append(Req(tc + rng.uniform(0.3, 0.9), c.idx, "GET", "/api/cart",
                                   f"{SITE}/orders/{self.order_no}", 200, 38, "xhr", sid))
                break
            nxt = self._next(rng, page, cart)
            if nxt == "exit":
                break
            t += think
            prev_url = url
            page = nxt
            if page == "product":
                pid = self._product(rng)
        return out

    @staticmethod
    def _cart_json(rng: random.Random, items: int) -> int:
        if items == 0:
            return 38  # {"items":[],"count":0,"total":"0.00"}
        return 96 + 112 * items + rng.randint(0, 18)

    def _product(self, rng: random.Random) -> int:
        return rng.choices(PRODUCTS, weights=self.cat.weights)[0]

    @staticmethod
    def _next(rng: random.Random, page: str, cart: int) -> str:
        table = {
            "home": (("product", 45), ("search", 17), ("cart", 4), ("exit", 34)),
            "product": (("product", 30), ("search", 8), ("cart", 10 + 8 * min(cart, 2)),
                        ("home", 5), ("exit", 40)),
            "search": (("product", 55), ("search", 8), ("exit", 37)),
            "cart": (("checkout", 45 if cart else 0), ("product", 20), ("exit", 35)),
        }[page]
        return rng.choices([p for p, _ in table], weights=[w for _, w in table])[0]


def poisson_times(rng: random.Random, t0: float, t1: float, per_min: float,
                  shaped: bool = True) -> list[float]:
    """Event times of a (thinned, daily-shaped) Poisson process on [t0, t1)."""
    peak = 0.86 + 0.28
    rate = per_min / 60.0
    out: list[float] = []
    t = t0
    while True:
        t += rng.expovariate(rate)
        if t >= t1:
            return out
        if not shaped or rng.random() < daily_shape(t) / peak:
            out.append(t)


def plan_traffic(scn: Scenario, pool: list[Client], cat: Catalog,
                 salt: int = 0) -> list[list[Req]]:
    """All client sessions of a bundle before any failure is applied (list of sessions)."""
    t_start, t_end = epoch(scn.date, scn.start), epoch(scn.date, scn.end)
    rng = rng_for(scn.name, "plan", salt)
    maker = SessionMaker(cat, scn)
    users = [c for c in pool if c.kind == "user"]
    cum = []
    acc = 0.0
    for c in users:
        acc += c.weight
        cum.append(acc)
    busy_until: dict[int, float] = {}
    sessions: list[list[Req]] = []
    # sessions start up to 15 min before the span so that 11:00 is mid-traffic
    for t0 in poisson_times(rng, t_start - 900.0, t_end, SESSIONS_PER_MIN):
        for _ in range(10):
            c = users[bisect.bisect_left(cum, rng.random() * acc)]
            if busy_until.get(c.idx, 0.0) < t0:
                break
        else:
            continue
        sid = len(sessions)
        reqs = maker.session(rng_for(scn.name, salt, "session", sid), c, t0, sid)
        busy_until[c.idx] = max(r.t for r in reqs) + 120.0
        sessions.append(reqs)
    # crawlers: one product page (or robots.txt / home) per visit
    for kind, per_min in (("googlebot", 0.45), ("bingbot", 0.15)):
        bots = [c for c in pool if c.kind == kind]
        for t in poisson_times(rng, t_start, t_end, per_min, shaped=False):
            c = rng.choice(bots)
            x = rng.random()
            if x < 0.05:
                r = Req(t, c.idx, "GET", "/robots.txt", "-", 200, 68, "bot")
            elif x < 0.10:
                r = Req(t, c.idx, "GET", "/", "-", 200, rng.randint(5950, 6380), "bot")
            elif x < 0.14:
                p = rng.choice(DISCONTINUED)
                r = Req(t, c.idx, "GET", f"/products/{p}", "-", 404, APP_404_GZ, "bot")
            else:
                p = rng.choice(PRODUCTS)
                r = Req(t, c.idx, "GET", f"/products/{p}", "-", 200,
                        cat.page_size[p] + rng.randint(-30, 30), "bot")
            r.session = len(sessions)
            sessions.append([r])
    # vulnerability scanners: a short burst of probes for well-known files, all 404
    scanners = [c for c in pool if c.kind == "scanner"]
    srng = rng_for(scn.name, "scanners", salt)
    order = list(range(len(scanners)))
    srng.shuffle(order)
    for n, t in enumerate(poisson_times(srng, t_start, t_end, 1.6 / 60.0, shaped=False)):
        c = scanners[order[n % len(order)]]
        sid = len(sessions)
        reqs = []
        for path in srng.sample(SCANNER_PATHS, srng.randint(2, 6)):
            reqs.append(Req(t, c.idx, "GET", path, "-", 404, APP_404_PLAIN, "bot", sid))
            t += srng.uniform(0.08, 1.8)
        sessions.append(reqs)
    # drop what falls outside the span
    clipped = []
    for s in sessions:
        kept = [r for r in s if t_start <= r.t < t_end]
        clipped.append(kept)
    return clipped


def probe_requests(scn: Scenario) -> list[Req]:
    """The Blackbox Exporter's GET /healthz every 15 s (fixed scrape offset, tiny jitter)."""
    rng = rng_for(scn.name, "probe")
    t_start, t_end = epoch(scn.date, scn.start), epoch(scn.date, scn.end)
    out = []
    t = t_start + 3.217
    while t < t_end:
        out.append(Req(t + rng.uniform(-0.004, 0.006), -1, "GET", "/healthz", "-", 200, 3,
                       "probe", dynamic=False))
        t += 15.0
    return out


def choose_web3_users(pool: list[Client], sessions: list[list[Req]]) -> tuple[int, int]:
    """Pick which clients hash to web-3 so exactly TARGET_AFFECTED of the window is hit.

    A client is *active* when it has a request logged in [12:30:00, 14:15:00] (whole
    seconds); it is *hit* when it is on web-3 and one of those requests falls after the
    break. Clients outside the window go to web-3 with the same probability.
    """
    lo, hi = WINDOW
    fixed = {c.idx: hash_peer(c.ip) == BROKEN for c in pool if c.ip}  # crawlers
    active: dict[int, bool] = {}  # client -> has a request in the failing part of the window
    for s in sessions:
        for r in s:
            sec = math.floor(r.t)
            if lo <= sec <= hi:
                active[r.client] = active.get(r.client, False) or r.t >= T_BREAK
    n_active = len(active)
    k = round(TARGET_AFFECTED * n_active)
    pre_hit = sum(1 for c, failing in active.items() if failing and fixed.get(c))
    eligible = sorted(c for c, failing in active.items() if failing and c not in fixed)
    # web-3 is busy when it breaks and when it comes back: the users with the first
    # request after the break and the last one before the fix are on it
    failing_reqs = sorted((r.t, r.client) for s in sessions for r in s
                          if T_BREAK <= r.t < T_FIX and r.client not in fixed)
    first, last = failing_reqs[0][1], failing_reqs[-1][1]
    eligible_set = set(eligible)
    forced = [c for c in dict.fromkeys((first, last)) if c in eligible_set]
    rng = rng_for("web3")
    rest = [c for c in eligible if c not in forced]
    chosen = set(forced + rng.sample(rest, k - pre_hit - len(forced)))
    # everyone else: the same share, drawn exactly, so web-3 carries ~15% of all clients
    idle = [c.idx for c in pool if c.idx not in active and c.idx not in fixed]
    idle_forced = [last] if last in idle else []
    idle_rest = [c for c in idle if c not in idle_forced]
    n_idle = round(TARGET_AFFECTED * len(idle)) - len(idle_forced)
    chosen.update(idle_forced + rng.sample(idle_rest, n_idle))
    for c in pool:
        c.web3 = fixed[c.idx] if c.idx in fixed else c.idx in chosen
    return k, n_active


#: How a visitor on web-3 reacts to a 502 page: reloads (1..5, weights), the chance of not
#: coming back after a round of reloads, and when they come back.
RELOADS = (50, 30, 12, 5, 3)
GIVE_UP = 0.4
RETURN_AFTER_S = (30.0, 120.0)


def apply_outage(pool: list[Client], sessions: list[list[Req]]) -> list[list[Req]]:
    """web-3's users get 502 from T_BREAK to T_FIX.

    On a failed page a visitor reloads a few times, gives up, and often comes back a few
    minutes later to try again (a shopper in the middle of an order keeps trying), until it
    works after the fix. Failed XHRs/assets of an already loaded page just fail.
    """
    out = []
    for s in sessions:
        if not s or not pool[s[0].client].web3:
            out.append(s)
            continue
        rng = rng_for("retry", s[0].session)
        kept: list[Req] = []
        for r in s:
            kept.append(r)
            if not T_BREAK <= r.t < T_FIX or r.kind != "page":
                continue
            t, page = r.t, r
            while True:
                for _ in range(rng.choices((1, 2, 3, 4, 5), weights=RELOADS)[0]):
                    t += rng.uniform(4.0, 45.0)
                    kept.append(Req(t, r.client, page.method, page.path, page.ref, page.status,
                                    page.size, "page", r.session, r.dynamic))
                    if t >= T_FIX:  # it worked this time
                        break
                if t >= T_FIX or rng.random() < GIVE_UP:
                    break
                # back a few minutes later, from a bookmark or the search engine
                t += rng.uniform(*RETURN_AFTER_S)
                page = Req(t, r.client, "GET", "/", "-", 200, rng.randint(5950, 6380), "page",
                           r.session)
                kept.append(page)
                if t >= T_FIX:
                    break
            break
        out.append(kept)
    return out


def add_app_errors(scn: Scenario, reqs: list[Req]) -> None:
    """Rare upstream 500s from the shop app on /api/cart: 1-3 an hour, one per 20-min slot."""
    rng = rng_for(scn.name, "app-errors")
    t_start = epoch(scn.date, scn.start)
    thirds: dict[int, list[Req]] = {}
    for r in reqs:
        if r.path == "/api/cart" and r.status == 200:
            thirds.setdefault(int((r.t - t_start) // 1200), []).append(r)
    hours = sorted({k // 3 for k in thirds})
    for h in hours:
        slots = [k for k in (3 * h, 3 * h + 1, 3 * h + 2) if k in thirds]
        for k in sorted(rng.sample(slots, min(len(slots), rng.randint(1, 3)))):
            r = rng.choice(thirds[k])
            r.status, r.size = 500, APP_500_SIZE


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Clock:
    """Cached ``$time_local`` and error-log timestamps (all hosts run in UTC)."""

    def __init__(self) -> None:
        self._access: dict[int, str] = {}
        self._error: dict[int, str] = {}

    def access(self, t: float) -> str:
        s = math.floor(t)
        v = self._access.get(s)
        if v is None:
            tm = time.gmtime(s)
            v = (f"{tm.tm_mday:02d}/{MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:"
                 f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} +0000")
            self._access[s] = v
        return v

    def error(self, t: float) -> str:
        s = math.floor(t)
        v = self._error.get(s)
        if v is None:
            tm = time.gmtime(s)
            v = (f"{tm.tm_year}/{tm.tm_mon:02d}/{tm.tm_mday:02d} "
                 f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}")
            self._error[s] = v
        return v


CLOCK = Clock()


def access_line(t: float, remote: str, r: Req, ua: str, status: int, size: int,
                xff: str) -> str:
    """``log_format main`` = combined + ``"$http_x_forwarded_for"``."""
    return (f'{remote} - - [{CLOCK.access(t)}] "{r.method} {r.path} HTTP/1.1" {status} {size} '
            f'"{r.ref}" "{ua}" "{xff}"\n')


def error_line(t: float, level: str, pid: int, msg: str, conn: int | None = None) -> str:
    """``YYYY/MM/DD HH:MM:SS [level] pid#tid: [*conn ]message`` (tid == pid on Linux)."""
    c = f"*{conn} " if conn is not None else ""
    return f"{CLOCK.error(t)} [{level}] {pid}#{pid}: {c}{msg}\n"


def request_context(client: str, r: Req, upstream: str | None) -> str:
    """The tail ngx_http_log_error_handler appends (client, server, request, ...)."""
    s = f', client: {client}, server: {SERVER_NAME}, request: "{r.method} {r.path} HTTP/1.1"'
    if upstream:
        s += f', upstream: "{upstream}"'
    s += f', host: "{SERVER_NAME}"'
    if r.ref != "-":
        s += f', referrer: "{r.ref}"'
    return s


@dataclass
class Reload:
    """One ``nginx -s reload`` on a host: helper pid, old and new worker pids."""

    t: float
    helper: int
    old: tuple[int, int]
    new: tuple[int, int]
    reap_together: bool = True


def reload_lines(master: int, rl: Reload) -> list[tuple[float, str]]:
    """The notice sequence Nginx 1.22.1 writes for a reload (ngx_process_cycle.c et al.)."""
    seq: list[tuple[int, str]] = [
        (rl.helper, "signal process started"),  # the `nginx -s reload` helper process
        (master, f"signal 1 (SIGHUP) received from {rl.helper}, reconfiguring"),
        (master, "reconfiguring"),
        (master, 'using the "epoll" event method'),
        (master, "start worker processes"),
        (master, f"start worker process {rl.new[0]}"),
        (master, f"start worker process {rl.new[1]}"),
    ]
    for w in rl.old:  # the old generation, sent SIGQUIT by the master
        seq += [(w, "gracefully shutting down"), (w, "exiting"), (w, "exit")]
    if rl.reap_together:  # one SIGCHLD, both children reaped
        seq += [
            (master, f"signal 17 (SIGCHLD) received from {rl.old[0]}"),
            (master, f"worker process {rl.old[0]} exited with code 0"),
            (master, f"worker process {rl.old[1]} exited with code 0"),
            (master, "signal 29 (SIGIO) received"),
        ]
    else:
        for w in rl.old:
            seq += [
                (master, f"signal 17 (SIGCHLD) received from {w}"),
                (master, f"worker process {w} exited with code 0"),
                (master, "signal 29 (SIGIO) received"),
            ]
    out = []
    for i, (pid, msg) in enumerate(seq):
        ts = rl.t + 0.0008 * i  # a reload takes ~15 ms
        out.append((ts, error_line(ts, "notice", pid, msg)))
    return out


@dataclass
class HostState:
    """Per-host output and counters while rendering."""

    name: str
    access: list[tuple[float, int, str]] = field(default_factory=list)
    error: list[tuple[float, int, str]] = field(default_factory=list)
    conn: int = 1
    workers: list[tuple[float, tuple[int, int]]] = field(default_factory=list)

    def worker(self, rng: random.Random, t: float) -> int:
        """A worker of the generation serving at ``t`` (reloads switch generations)."""
        current = self.workers[0][1]
        for since, ws in self.workers:
            if since <= t:
                current = ws
        return rng.choice(current)

    def next_conn(self) -> int:
        n = self.conn
        self.conn += 1
        return n


def reloads_for(scn: Scenario) -> dict[str, list[Reload]]:
    """Reloads per web host: the rolling deploy (and the fix) on 03-20, a routine one on 03-13."""
    if scn.incident:
        return {
            "web-1": [Reload(epoch(scn.date, "12:29:10", 0.214), 47102, (30881, 30882),
                             (47104, 47105))],
            "web-2": [Reload(epoch(scn.date, "12:29:36", 0.433), 46517, (30127, 30128),
                             (46519, 46520), reap_together=False)],
            "web-3": [Reload(T_BREAK, 48277, (30505, 30506), (48279, 48280)),
                      Reload(T_FIX - 0.020, 61893, (48279, 48280), (61895, 61896),
                             reap_together=False)],
            "web-4": [Reload(epoch(scn.date, "12:30:28", 0.705), 47733, (30944, 30945),
                             (47735, 47736))],
        }
    return {"web-2": [Reload(epoch(scn.date, "13:47:15", 0.532), 27340, (19201, 19202),
                             (27342, 27343))]}


#: Worker pids in place when the bundle's span starts, per web host.
INITIAL_WORKERS = {
    "seed-outage": {"web-1": (30881, 30882), "web-2": (30127, 30128),
                    "web-3": (30505, 30506), "web-4": (30944, 30945)},
    "quiet-day": {"web-1": (18755, 18756), "web-2": (19201, 19202),
                  "web-3": (18990, 18991), "web-4": (19377, 19378)},
}
#: Connection counters (``*N``) at the start of the span, per host.
INITIAL_CONN = {
    "seed-outage": {"lb-1": 41377, "web-1": 118204, "web-2": 121876, "web-3": 63140,
                    "web-4": 101533},
    "quiet-day": {"lb-1": 23911, "web-1": 70418, "web-2": 72290, "web-3": 37702,
                  "web-4": 60311},
}
INITIAL_TEMP = {"seed-outage": 2207, "quiet-day": 1269}


def render(scn: Scenario, pool: list[Client], reqs: list[Req]) -> dict[str, HostState]:
    """Turn the final request list into per-host access and error lines."""
    rng = rng_for(scn.name, "render")
    lb = HostState("lb-1", conn=INITIAL_CONN[scn.name]["lb-1"],
                   workers=[(0.0, LB_WORKERS)])
    webs = {}
    for name, _, _ in WEB_HOSTS:
        hs = HostState(name, conn=INITIAL_CONN[scn.name][name],
                       workers=[(0.0, INITIAL_WORKERS[scn.name][name])])
        webs[name] = hs
    for name, rls in reloads_for(scn).items():
        for rl in rls:
            webs[name].workers.append((rl.t, rl.new))
            for i, (ts, line) in enumerate(reload_lines(WEB_MASTER[name], rl)):
                webs[name].error.append((ts, i, line))
    temp_no = INITIAL_TEMP[scn.name]
    conns: dict[int, tuple[int, int, float]] = {}  # client -> (conn, worker, last use)
    seq = 0
    for r in sorted(reqs, key=lambda q: (q.t, q.client, q.path)):
        seq += 1
        if r.kind == "probe":
            addr, ua, backend = PROBE_ADDR, PROBE_UA, hash_peer(PROBE_ADDR)
        else:
            c = pool[r.client]
            addr, ua, backend = c.ip, c.ua, c.backend
        duration = 0.004 if not r.dynamic else rng.uniform(0.012, 0.180)
        t_begin = r.t - duration
        # client connection (keepalive_timeout 65 s; the probe opens one per scrape)
        state = conns.get(r.client) if r.kind != "probe" else None
        if state and t_begin - state[2] <= KEEPALIVE_TIMEOUT:
            conn, worker = state[0], state[1]
        else:
            conn, worker = lb.next_conn(), lb.worker(rng, r.t)
        if r.kind != "probe":
            conns[r.client] = (conn, worker, r.t)
        lb.next_conn()  # the upstream connection (no upstream keepalive) takes a number too
        host, host_addr, _ = WEB_HOSTS[backend]
        failed = scn.incident and backend == BROKEN and T_BREAK <= r.t < T_FIX
        if failed:  # refused at once: the error line and the 502 share the moment
            status, size = 502, NGINX_502_SIZE
            msg = ("connect() failed (111: Connection refused) while connecting to upstream"
                   + request_context(addr, r, f"http://{host_addr}:80{r.path}"))
            te = r.t - 0.0004
            lb.error.append((te, seq, error_line(te, "error", worker, msg, conn)))
        else:
            status, size = r.status, r.size
        lb.access.append((r.t, seq, access_line(r.t, addr, r, ua, status, size, "-")))
        if failed:
            continue
        # a slow (mobile) client of a big asset: the LB spills the response to a temp file
        if (r.path in (APP_JS, STYLE_CSS) and status == 200
                and rng.random() < (0.45 if pool[r.client].platform in ("ios", "android")
                                    else 0.06)):
            temp_no += 1
            digits = f"{temp_no:010d}"
            path = f"/var/lib/nginx/proxy/{digits[-1]}/{digits[-3:-1]}/{digits}"
            msg = (f"an upstream response is buffered to a temporary file {path} while "
                   "reading upstream"
                   + request_context(addr, r, f"http://{host_addr}:80{r.path}"))
            te = t_begin + 0.002
            lb.error.append((te, seq, error_line(te, "warn", worker, msg, conn)))
        # the web host's side: a fresh connection from the LB for every request
        web = webs[host]
        t_web = r.t - rng.uniform(0.0004, 0.0025)
        wconn = web.next_conn()
        wworker = web.worker(rng, t_web)
        if r.dynamic:
            web.next_conn()  # proxy_pass to the app on 127.0.0.1:8000
        web.access.append((t_web, seq, access_line(t_web, LB_ADDR, r, ua, status, size, addr)))
        if status == 404 and not r.dynamic:
            fs_path = ("/var/www/shop" + r.path if r.path.startswith("/static/")
                       else "/var/www/shop/static" + r.path)
            msg = (f'open() "{fs_path}" failed (2: No such file or directory)'
                   + request_context(LB_ADDR, r, None))
            te = t_web - 0.0002
            web.error.append((te, seq, error_line(te, "error", wworker, msg, wconn)))
    hosts = {"lb-1": lb}
    hosts.update(webs)
    return hosts


# --------------------------------------------------------------------------------------
# Alertmanager webhook payloads
# --------------------------------------------------------------------------------------

ALERTMANAGER_URL = "http://alertmanager.example.com:9093"
PROMETHEUS_URL = "http://prometheus.example.com:9090"


def fingerprint(labels: dict[str, str]) -> str:
    """prometheus/common model.LabelSet.Fingerprint: FNV-1a 64 over sorted name/value pairs."""
    h = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode():
                h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ 0xFF) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def rfc3339nano(date: tuple[int, int, int], hms: str, nanos: int) -> str:
    """Go's time.RFC3339Nano in UTC (trailing zeros of the fraction are trimmed)."""
    frac = f"{nanos:09d}".rstrip("0")
    return f"{date[0]:04d}-{date[1]:02d}-{date[2]:02d}T{hms}" + (f".{frac}" if frac else "") + "Z"


def generator_url(expr: str) -> str:
    """Prometheus' link for a rule: /graph?g0.expr=<url.QueryEscape(expr)>&g0.tab=1."""
    return f"{PROMETHEUS_URL}/graph?g0.expr={urllib.parse.quote_plus(expr, safe='')}&g0.tab=1"


@dataclass
class Alert:
    """One Prometheus alert as Alertmanager forwards it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    expr: str
    ends_at: str = ""  # set once resolved


def notification(alert: Alert, resolved: bool) -> str:
    """A webhook v4 body (Go encoding/json field order, compact, HTML-escaped)."""
    status = "resolved" if resolved else "firing"
    group = {"alertname": alert.labels["alertname"]}
    body = {
        "receiver": "sre-webhook",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": dict(sorted(alert.labels.items())),
            "annotations": dict(sorted(alert.annotations.items())),
            "startsAt": alert.starts_at,
            # alert.Alerts() zeroes EndsAt of alerts that are still firing
            "endsAt": alert.ends_at if resolved else "0001-01-01T00:00:00Z",
            "generatorURL": generator_url(alert.expr),
            "fingerprint": fingerprint(alert.labels),
        }],
        "groupLabels": group,
        "commonLabels": dict(sorted(alert.labels.items())),
        "commonAnnotations": dict(sorted(alert.annotations.items())),
        "externalURL": ALERTMANAGER_URL,
        "version": "4",
        "groupKey": '{}:{alertname="' + alert.labels["alertname"] + '"}',
        "truncatedAlerts": 0,
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    # json.Encoder.SetEscapeHTML(true) is Go's default
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return text + "\n"


def watchdog(date: tuple[int, int, int], nanos: int) -> Alert:
    """The always-firing alert that proves the alerting pipeline works."""
    return Alert(
        {"alertname": "Watchdog", "severity": "none"},
        {"summary": "Alerting pipeline heartbeat: this alert is always firing.",
         "description": "Watchdog fires permanently so that a missing notification reveals "
                        "a broken path from Prometheus through Alertmanager to the receiver."},
        rfc3339nano(date, "00:00:00", nanos), "vector(1)")


def webhook_lines(scn: Scenario) -> list[str]:
    """The receiver's append-only log, in arrival order (payloads carry no send time)."""
    if not scn.incident:
        wd = watchdog((2023, 3, 12), 731902114)
        # repeat_interval 4h: ~07:00, ~11:00, ~15:00 on the day
        return [notification(wd, False)] * 3
    wd = watchdog((2023, 3, 19), 467214317)
    disk = Alert(
        {"alertname": "DiskSpaceLow", "device": "/dev/vdb1", "fstype": "ext4",
         "instance": "db-1:9100", "job": "node", "mountpoint": "/var/lib/postgresql",
         "severity": "warning"},
        {"summary": "Less than 10% disk space left on db-1:/var/lib/postgresql",
         "description": "Filesystem /dev/vdb1 on db-1 has less than 10% space available."},
        rfc3339nano(scn.date, "09:09:43", 118402957),
        'node_filesystem_avail_bytes{job="node",mountpoint="/var/lib/postgresql"} / '
        'node_filesystem_size_bytes{job="node",mountpoint="/var/lib/postgresql"} < 0.1',
        # the same rule-group evaluation offset: 09:09:43.118 + 121 x 15 s
        ends_at=rfc3339nano(scn.date, "09:39:58", 118402957))
    nginx = Alert(
        {"alertname": "NginxHighErrorRate", "instance": "lb-1:9113", "job": "nginx",
         "severity": "critical"},
        {"summary": "More than 5% of requests to shop.example.com fail",
         "description": "lb-1 answered more than 5% of the requests for shop.example.com "
                        "with a 5xx status over the last minute.",
         "runbook_url": "https://runbooks.example.com/nginx/high-error-rate"},
        rfc3339nano(scn.date, "12:30:31", 583120446),
        'sum by (instance, job) (rate(nginx_http_requests_total{job="nginx",status=~"5.."}[1m]))'
        ' / sum by (instance, job) (rate(nginx_http_requests_total{job="nginx"}[1m])) > 0.05',
        # 12:30:31.583 + 422 x 15 s evaluation interval
        ends_at=rfc3339nano(scn.date, "14:16:01", 583120446))
    return [
        notification(wd, False),  # ~07:00
        notification(disk, False),  # 09:10:13 (group_wait 30s)
        notification(disk, True),  # 09:40:13 (next group_interval tick)
        notification(wd, False),  # ~11:00
        notification(nginx, False),  # 12:31:01
        notification(nginx, True),  # 14:16:31
        notification(wd, False),  # ~15:00
    ]


# --------------------------------------------------------------------------------------
# Driver, figures, checks
# --------------------------------------------------------------------------------------

LB_LINE = re.compile(r'^(\S+) - - \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) \+0000\] '
                     r'"([A-Z]+) ([^ "]+) HTTP/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)" "([^"]*)"$')


def parse_access(text: str) -> list[tuple[int, str, str, int]]:
    """(epoch second, remote, path, status) of every line; raises on a line that doesn't fit."""
    out = []
    for line in text.splitlines():
        m = LB_LINE.match(line)
        if not m:
            raise AssertionError(f"bad access line: {line!r}")
        ts = calendar.timegm((int(m[4]), MONTHS.index(m[3]) + 1, int(m[2]), int(m[5]),
                              int(m[6]), int(m[7]), 0, 0, 0))
        out.append((ts, m[1], m[9], int(m[10])))
    return out


def build(scn: Scenario, pool: list[Client], sessions: list[list[Req]],
          outdir: Path) -> dict[str, object]:
    """Write one bundle into ``outdir`` and return its figures."""
    if scn.incident:
        sessions = apply_outage(pool, sessions)
    reqs = [r for s in sessions for r in s] + probe_requests(scn)
    add_app_errors(scn, [r for r in reqs if r.kind != "probe"
                         and not (scn.incident and pool[r.client].web3
                                  and T_BREAK - 1 <= r.t < T_FIX + 1)])
    hosts = render(scn, pool, reqs)
    files: dict[str, str] = {}
    for name, hs in hosts.items():
        for kind, entries in (("access", hs.access), ("error", hs.error)):
            entries.sort(key=lambda e: (e[0], e[1]))  # time, then the order written
            files[f"{name}/{kind}.log"] = "".join(line for _, _, line in entries)
    files["alertmanager/webhook.jsonl"] = "".join(webhook_lines(scn))
    if outdir.exists():
        shutil.rmtree(outdir)
    for rel, text in files.items():
        p = outdir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))
    return figures(scn, files)


def figures(scn: Scenario, files: dict[str, str]) -> dict[str, object]:
    """Figures from the written LB/web access logs, with the bundle's invariants asserted."""
    lb = parse_access(files["lb-1/access.log"])
    t_start, t_end = epoch(scn.date, scn.start), epoch(scn.date, scn.end)
    minutes = (t_end - t_start) / 60
    users = [x for x in lb if x[1] != PROBE_ADDR]
    fig: dict[str, object] = {
        "lb_requests": len(lb),
        "lb_requests_per_min": round(len(lb) / minutes, 1),
        "lb_requests_per_min_without_probe": round(len(users) / minutes, 1),
        "distinct_clients": len({x[1] for x in users}),
        "status_5xx": sum(1 for x in lb if x[3] >= 500),
        "status_502": sum(1 for x in lb if x[3] == 502),
        "status_500": sum(1 for x in lb if x[3] == 500),
        "status_404": sum(1 for x in lb if x[3] == 404),
        "lines": {rel: text.count("\n") for rel, text in sorted(files.items())},
        "bytes": {rel: len(text.encode()) for rel, text in sorted(files.items())},
    }
    probe_bad = [x for x in lb if x[1] == PROBE_ADDR and x[3] != 200]
    assert not probe_bad, f"the probe must never fail: {probe_bad[:3]}"
    web3 = parse_access(files["web-3/access.log"])
    if scn.incident:
        lo, hi = WINDOW
        in_win = [x for x in users if lo <= x[0] <= hi]
        active = {x[1] for x in in_win}
        hit = {x[1] for x in in_win if x[3] == 502}
        share = len(hit) / len(active)
        first_502 = min(x[0] for x in lb if x[3] == 502)
        last_502 = max(x[0] for x in lb if x[3] == 502)
        fig.update({
            "window": "2023-03-20 12:30:00 .. 14:15:00 UTC",
            "lb_requests_in_window": sum(1 for x in lb if lo <= x[0] <= hi),
            "failed_requests_in_window": sum(1 for x in lb if lo <= x[0] <= hi and x[3] >= 500),
            "failed_502_in_window": sum(1 for x in in_win if x[3] == 502),
            "users_active_in_window": len(active),
            "users_affected": len(hit),
            "users_affected_pct": round(100 * share, 2),
            "first_502": first_502,
            "last_502": last_502,
        })
        assert abs(share - TARGET_AFFECTED) <= 0.005, f"users affected {share:.4f}"
        gap_lo, gap_hi = epoch(scn.date, "12:30:02"), epoch(scn.date, "14:15:04")
        inside = [x for x in web3 if gap_lo <= x[0] <= gap_hi]  # not even in 14:15:04
        assert not inside, f"web-3 logged during the outage: {inside[:2]}"
        assert gap_lo <= first_502 and last_502 <= gap_hi, (first_502, last_502)
        errors_502 = files["lb-1/error.log"].count("connect() failed (111: Connection refused)")
        assert errors_502 == fig["status_502"], (errors_502, fig["status_502"])
    else:
        # no incident: no 502s and the rare 500s spread thin
        assert fig["status_502"] == 0
        per_10min: dict[int, int] = {}
        for x in lb:
            if x[3] >= 500:
                b = (x[0] - int(t_start)) // 600
                per_10min[b] = per_10min.get(b, 0) + 1
        assert max(per_10min.values(), default=0) <= 2, per_10min
    # a small shop: a web host may see no request for a few minutes, never for long
    for host, _, _ in WEB_HOSTS:
        times = [x[0] for x in parse_access(files[f"{host}/access.log"])]
        outage = (T_BREAK, T_FIX) if scn.incident and host == "web-3" else None
        gap = max(b - a for a, b in pairwise(times)
                  if not (outage and a < outage[1] and b > outage[0]))
        fig[f"{host}_longest_idle_s"] = gap
        assert gap < IDLE_LIMIT_S + 2, (host, gap)
    return fig


def longest_idle(pool: list[Client], sessions: list[list[Req]], host: int,
                 skip: tuple[float, float] | None = None) -> float:
    """Longest stretch without a request for web host ``host`` (ignoring one overlapping
    ``skip``), from planned traffic."""
    ts = sorted(r.t for s in sessions for r in s if pool[r.client].backend == host)
    gaps = [b - a for a, b in pairwise(ts) if not (skip and a < skip[1] and b > skip[0])]
    return max(gaps, default=0.0)


def generate(root: Path) -> dict[str, dict[str, object]]:
    """Write both bundles under ``root`` and return their figures.

    A small shop's web host can go several minutes without a request; the first traffic
    draw (by ``salt``) in which no web host is idle for IDLE_LIMIT_S outside the outage is
    used, so a quiet spell on one host does not read as an incident of its own.
    """
    cat = build_catalog()
    for salt in range(200):
        pool = build_pool()
        seed_sessions = plan_traffic(SEED_OUTAGE, pool, cat, salt)
        k, n_active = choose_web3_users(pool, seed_sessions)
        assign_addresses(pool)
        quiet_sessions = plan_traffic(QUIET_DAY, pool, cat, salt)
        idle = max(
            max(longest_idle(pool, seed_sessions, h, (T_BREAK, T_FIX) if h == BROKEN else None)
                for h in range(len(WEB_HOSTS))),
            max(longest_idle(pool, quiet_sessions, h) for h in range(len(WEB_HOSTS))),
        )
        if idle < IDLE_LIMIT_S:
            break
    else:
        raise AssertionError("no traffic draw keeps the web hosts busy enough")
    assert hash_peer(PROBE_ADDR) != BROKEN, "the probe must hash to a healthy backend"
    out = {}
    out[SEED_OUTAGE.name] = build(SEED_OUTAGE, pool, seed_sessions, root / SEED_OUTAGE.name)
    out[SEED_OUTAGE.name]["web3_users_chosen"] = f"{k} of {n_active}"
    out[QUIET_DAY.name] = build(QUIET_DAY, pool, quiet_sessions, root / QUIET_DAY.name)
    share = sum(1 for c in pool if c.backend == BROKEN) / len(pool)
    out[SEED_OUTAGE.name]["pool_share_on_web3_pct"] = round(100 * share, 1)
    out[SEED_OUTAGE.name]["traffic_draw"] = salt
    return out


def print_figures(figs: dict[str, dict[str, object]]) -> None:
    """Human-readable summary of what was generated."""
    for name, fig in figs.items():
        print(f"== {name}")
        for key, value in fig.items():
            if key in ("lines", "bytes"):
                continue
            if key in ("first_502", "last_502") and isinstance(value, int):
                value = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
            print(f"  {key}: {value}")
        lines, sizes = fig["lines"], fig["bytes"]
        assert isinstance(lines, dict) and isinstance(sizes, dict)
        for rel in lines:
            print(f"  {rel:28s} {lines[rel]:7d} lines {sizes[rel]:9d} bytes")
        print(f"  total bytes: {sum(sizes.values())}")


def main(argv: list[str] | None = None) -> int:
    """Generate (default) or ``--check`` that the committed files are up to date."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temporary directory and compare bytes")
    ap.add_argument("--quiet", action="store_true", help="do not print the figures")
    args = ap.parse_args(argv)
    if not args.check:
        with tempfile.TemporaryDirectory() as tmp:
            figs = generate(Path(tmp))
            # Only quiet-day is kept: seed-outage/ comes from record_seed.py (real Nginx).
            dest = HERE / QUIET_DAY.name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(Path(tmp) / QUIET_DAY.name, dest)
        if not args.quiet:
            print_figures({QUIET_DAY.name: figs[QUIET_DAY.name]})
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        figs = generate(Path(tmp))
        if not args.quiet:
            print_figures({QUIET_DAY.name: figs[QUIET_DAY.name]})
        bad = []
        for name in (QUIET_DAY.name,):
            new_root, old_root = Path(tmp) / name, HERE / name
            new = sorted(p.relative_to(new_root) for p in new_root.rglob("*") if p.is_file())
            old = (sorted(p.relative_to(old_root) for p in old_root.rglob("*") if p.is_file())
                   if old_root.exists() else [])
            for rel in sorted(set(new) | set(old)):
                a, b = new_root / rel, old_root / rel
                if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
                    bad.append(f"{name}/{rel}")
        if bad:
            print("out of date (run python sample_logs/generate.py):", *bad, sep="\n  ",
                  file=sys.stderr)
            return 1
        print("sample_logs are up to date", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
