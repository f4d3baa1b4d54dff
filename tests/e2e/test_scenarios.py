"""End-to-end scenarios: a real Nginx, real failures, truth recorded from the clients' side.

Each test builds a small topology, runs ~26 fake minutes of traffic (10 normal, 8 with the
fault, 8 after the fix; one real second is one fake minute), then runs
``python -m timeline build`` on the logs and compares its incident with the truth. See
``harness.py`` for how time, users and the truth are made.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import (
    SITE,
    TIMED_FORMAT,
    App,
    Harness,
    Nginx,
    Scenario,
    accepts,
    assert_self_check,
    assert_tool_matches,
    make_users,
    shop_site,
    wait_for,
)

#: Normal traffic: 400 users, 40 requests per real second (= 40 per fake minute).
USERS = 400
RATE = 40.0


def proxy_location(
    upstream: str, extra: str = "", read_timeout: str | None = "20s", scheme: str = "http"
) -> str:
    """``location /`` passing to ``upstream`` the way the seed's LB does (no retries);
    ``read_timeout=None`` leaves Nginx's default proxy_read_timeout (60 s)."""
    timeout = f"proxy_read_timeout {read_timeout};" if read_timeout else ""
    return f"""
        location / {{
            proxy_pass {scheme}://{upstream};
            proxy_next_upstream off;
            proxy_connect_timeout 5s;
            {timeout}
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            {extra}
        }}"""


def edge_server(h: Harness, lb: Nginx, locations: str, static: bool = True) -> str:
    """The public server of the shop on the edge (static files from disk when ``static``)."""
    files = (
        """
        location /static/ { expires 1y; }
        location = /favicon.ico { log_not_found on; }"""
        if static
        else ""
    )
    return f"""
    server {{
        listen {lb.address};
        server_name {SITE};
        root {h.docroot};
{files}
{locations}
    }}"""


def upstream_block(name: str, apps: list[str], hashed: bool = False) -> str:
    """``upstream name {...}``: every server with max_fails=0 (never marked down)."""
    servers = "\n".join(f"        server {a} max_fails=0;" for a in apps)
    policy = "        hash $remote_addr;\n" if hashed else ""
    return f"""
    upstream {name} {{
{policy}{servers}
    }}"""


def run_phases(
    h: Harness,
    scn: Scenario,
    edge: Nginx,
    inject: Callable[[], object],
    repair: Callable[[], object],
    users: int = USERS,
    rate: float = RATE,
    threads: int = 6,
) -> dict[str, Any]:
    """Traffic and probe to the edge; the fault between pre_s and pre_s + fault_s."""
    h.start_traffic(edge.port, make_users(users), rate, threads)
    h.start_probe(edge.port)
    h.at(scn.pre_s)
    h.fault_begins()
    inject()
    h.at(scn.pre_s + scn.fault_s)
    repair()
    h.fault_ends()
    h.at(scn.pre_s + scn.fault_s + scn.post_s)
    return h.finish(edge)


def check(result: dict[str, Any]) -> None:
    """The harness agrees with the raw log; then the tool must agree with the truth."""
    assert_self_check(result)
    assert_tool_matches(result)


@pytest.mark.e2e
def test_backend_killed_and_restarted(harness: Harness) -> None:
    """The app is SIGKILLed: 502 with connect() refused on every proxied request."""
    h = harness
    scn = Scenario("backend_killed", "upstream_unreachable")
    app = h.app("app")
    app.start()
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [app.address]) + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
    )
    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, app.kill, app.start))


@pytest.mark.e2e
def test_backend_stalls_past_read_timeout(harness: Harness) -> None:
    """The app hangs: every proxied request waits proxy_read_timeout (20 s) and gets a 504.

    The access log carries ``$request_time $upstream_addr $upstream_status
    $upstream_response_time`` after ``main``.
    """
    h = harness
    scn = Scenario("backend_stalls", "upstream_timeout")
    app = h.app("app")
    app.start()
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [app.address]) + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
        log_format=TIMED_FORMAT,
    )
    h.begin(scn)
    lb.start()
    # Stalled requests hold a client thread for 20 fake s (1/3 real s): more threads.
    check(run_phases(h, scn, lb, lambda: app.set("stall"), lambda: app.set(), threads=16))


@pytest.mark.e2e
def test_one_of_two_hashed_backends_dies(harness: Harness) -> None:
    """``hash $remote_addr`` over two apps, no retries: only the dead app's users fail."""
    h = harness
    scn = Scenario(
        "hashed_backend_dies",
        "upstream_partial",
        notes=["the correlator may answer upstream_unreachable today"],
    )
    a, b = h.app("app-a"), h.app("app-b")
    a.start()
    b.start()
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [a.address, b.address], hashed=True)
        + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
    )
    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, b.kill, b.start))


@pytest.mark.e2e
def test_nginx_stopped_and_restarted(harness: Harness) -> None:
    """Nginx itself is stopped (SIGQUIT) and started again: refused connections, no lines."""
    h = harness
    scn = Scenario("nginx_stopped", "nginx_unavailable")
    app = h.app("app")
    app.start()
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [app.address]) + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
    )
    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, lb.stop, lb.start))


def _web_host(
    h: Harness, name: str, app: App, *, edge: bool = False, default_server: bool = False
) -> Nginx:
    """A web host like the seed's: nginx.conf includes sites-enabled/*, where a link to
    sites-available/shop is the only entry; static files from disk, the rest to the app.
    ``default_server``: nginx.conf also has a catch-all ``default_server`` whose root is an
    empty folder (as a stock nginx.conf's ``server_name _`` block)."""
    web = h.nginx(name)
    enabled = shop_site(web, SITE, h.docroot, app.address)
    catch_all = ""
    if default_server:
        empty = web.prefix / "html-default"
        empty.mkdir()
        catch_all = f"""    server {{
        listen {web.address} default_server;
        server_name _;
        root {empty};
    }}
"""
    web.configure(f"{catch_all}    include {enabled}/*;", edge=edge)
    return web


@pytest.mark.e2e
def test_deploy_drops_site_link_and_reloads(harness: Harness) -> None:
    """The seed story on real Nginx: lb-1 hashes clients over web-1 and web-2; a deploy
    removes web-2's ``sites-enabled/shop`` link and reloads. With no server left, web-2's
    Nginx listens on nothing: lb-1's connect() is refused (502) for web-2's users. Later the
    link is restored and web-2 reloaded."""
    h = harness
    scn = Scenario(
        "site_link_removed",
        "config_change",
        notes=[
            "real nginx 1.22 with no server{} left closes the port on reload: "
            "lb-1 gets 111 Connection refused and answers 502"
        ],
    )
    app = h.app("app")
    app.start()
    web1, web2 = _web_host(h, "web-1", app), _web_host(h, "web-2", app)
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_backend", [web1.address, web2.address], hashed=True)
        + edge_server(h, lb, proxy_location("shop_backend"), static=False),
        edge=True,
    )
    link = web2.prefix / "sites-enabled" / "shop"

    def remove_link() -> None:
        link.unlink()
        web2.reload(wait_listening=False)
        wait_for(lambda: not accepts(web2.port), "web-2 to stop listening", 3.0)

    def restore_link() -> None:
        link.symlink_to(web2.prefix / "sites-available" / "shop")
        web2.reload()

    h.begin(scn)
    for n in (web1, web2, lb):
        n.start()
    check(run_phases(h, scn, lb, remove_link, restore_link))


@pytest.mark.e2e
def test_worker_connections_exhausted_by_a_burst(harness: Harness) -> None:
    """One worker with worker_connections 16; a crowd's burst of slow searches exhausts
    them: ``worker_connections are not enough``, dropped connections, 500s.

    Nginx drops connections before any access line exists and the error log names no
    client, so the users hit can only be estimated: where the tool says
    ``users_basis: estimated``, the truth's count must lie in its
    [users_affected_low, users_affected_high] (see ``harness.compare``)."""
    h = harness
    scn = Scenario("worker_connections", "capacity_exhausted")
    app = h.app("app")
    app.start()
    app.set("slow", "/search", "0.1")  # a search takes 0.1 real s (6 fake s)
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [app.address]) + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
        workers=1,
        worker_connections=16,
    )
    crowd = make_users(200, net=2)
    searches = ("shoes", "sale", "black+friday", "tv", "headphones")

    def search(rng: random.Random) -> str:
        return f"/search?q={rng.choice(searches)}"

    bursts = []

    def burst() -> None:
        bursts.append(h.start_traffic(lb.port, crowd, 150.0, threads=24, pick=search))

    def calm() -> None:
        bursts[0].halt()

    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, burst, calm))


@pytest.mark.e2e
def test_limit_req_rejects_a_surge(harness: Harness) -> None:
    """A site-wide ``limit_req`` (60 r/min, burst 10) meets a surge of new visitors: 503s
    for everyone's page requests while it lasts; /healthz is not limited."""
    h = harness
    scn = Scenario("rate_limited", "rate_limited")
    app = h.app("app")
    app.start()
    lb = h.nginx("lb-1")
    health = """
        location = /healthz {
            proxy_pass http://shop_app;
            proxy_set_header Host $host;
        }"""
    lb.configure(
        "    limit_req_zone $server_name zone=shop:1m rate=60r/m;"
        + upstream_block("shop_app", [app.address])
        + edge_server(
            h, lb, health + proxy_location("shop_app", "limit_req zone=shop burst=10 nodelay;")
        ),
        edge=True,
    )
    crowd = make_users(300, net=2)
    surges = []

    def surge() -> None:
        surges.append(h.start_traffic(lb.port, crowd, 90.0, threads=8))

    def calm() -> None:
        surges[0].halt()

    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, surge, calm))
