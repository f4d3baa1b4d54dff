"""End-to-end scenarios for outage classes the tool gets wrong (or did): a real Nginx, real
failures, truth from the clients' side. Same harness and helpers as ``test_scenarios.py``;
phases are shorter where the story allows (8 normal minutes for the baseline, 6 with the
fault, 6 after), so each runs in ~25 real seconds.
"""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DEFAULT_FAILED_STATUSES,
    JSON_FORMAT,
    MAIN_FORMAT,
    SITE,
    TIMED_FORMAT,
    App,
    E2EUnavailable,
    Harness,
    Nginx,
    Scenario,
    make_ca,
    make_users,
    read_lines,
)
from tests.e2e.test_scenarios import (
    RATE,
    USERS,
    _web_host,
    check,
    edge_server,
    proxy_location,
    run_phases,
    upstream_block,
)

PRE, FAULT, POST = 8 * 60, 6 * 60, 6 * 60


def _single_app_edge(
    h: Harness,
    *,
    log_format: str = MAIN_FORMAT,
    read_timeout: str | None = "20s",
    host: str = "lb-1",
    tz: str = "UTC",
) -> tuple[App, Nginx]:
    """An app behind one edge Nginx (static files from disk, the rest proxied)."""
    app = h.app("app")
    app.start()
    lb = h.nginx(host, tz=tz)
    lb.configure(
        upstream_block("shop_app", [app.address])
        + edge_server(h, lb, proxy_location("shop_app", read_timeout=read_timeout)),
        edge=True,
        log_format=log_format,
    )
    return app, lb


# -- 1 ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_site_link_removed_default_server(harness: Harness) -> None:
    """One web host (the edge; the app behind it). Its nginx.conf has a catch-all
    ``default_server`` (empty root) and includes sites-enabled/*. A deploy removes the
    site's link and reloads: the port stays open, the default server answers everything —
    404 with ``open() ... failed (2: No such file or directory)``, 403 for ``/``
    (``directory index of ... is forbidden``), the probe's /healthz 404 too. Restored link
    and a reload repair it.

    Truth: a request failed when the site was not served, i.e. the default server's 4xx
    (plus the usual 5xx / no answer)."""
    h = harness
    scn = Scenario(
        "site_link_removed_default_server",
        "config_change",
        pre_s=PRE,
        fault_s=FAULT,
        post_s=POST,
        failed_statuses=DEFAULT_FAILED_STATUSES | {403, 404},
        notes=["failed = 403/404 from the default server, 5xx, 444, no answer"],
    )
    app = h.app("app")
    app.start()
    web = _web_host(h, "web-1", app, edge=True, default_server=True)
    link = web.prefix / "sites-enabled" / "shop"

    def remove_link() -> None:
        link.unlink()
        web.reload()

    def restore_link() -> None:
        link.symlink_to(web.prefix / "sites-available" / "shop")
        web.reload()

    h.begin(scn)
    web.start()
    check(run_phases(h, scn, web, remove_link, restore_link))


# -- 2 ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_background_500_trickle_then_upstream_killed(harness: Harness) -> None:
    """The app answers 500 to 15% of ``/api/cart`` all the time (~0.8 a minute, ~2% of all
    requests: before, during and after); then it is SIGKILLed (502, connect() refused) and
    restarted.

    Truth: the incident is the kill, so a request failed when it got the fault's statuses
    (502, or no answer); the background 500s are not the incident and are not counted."""
    h = harness
    scn = Scenario(
        "background_500_trickle_then_upstream_killed",
        "upstream_unreachable",
        pre_s=PRE,
        fault_s=FAULT,
        post_s=POST,
        failed_statuses=frozenset({0, 502}),
        notes=["a background trickle of 500 on /api/cart is not the incident: failed = 502/0"],
    )
    app, lb = _single_app_edge(h)
    app.always("fail", "/api/cart", "0.15")
    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, app.kill, app.start))


# -- 3, 4, 5 ---------------------------------------------------------------------------


def _stall_default_timeout(h: Harness, name: str, log_format: str) -> None:
    """The app stalls; the edge keeps Nginx's default proxy_read_timeout (60 s), so each
    proxied request gets a 504 60 s after it started; the first 504 is logged 60 s after
    the stall began (Nginx logs a request when it ends). Truth starts at the stall."""
    scn = Scenario(
        name,
        "upstream_timeout",
        pre_s=PRE,
        fault_s=FAULT,
        post_s=POST,
        notes=["default proxy_read_timeout (60 s): the first 504 is logged 60 s after the start"],
    )
    app, lb = _single_app_edge(h, log_format=log_format, read_timeout=None)
    h.begin(scn)
    lb.start()
    # A stalled request holds a client thread for 60 fake s (1 real s): 40 a second.
    check(run_phases(h, scn, lb, lambda: app.set("stall"), lambda: app.set(), threads=56))


@pytest.mark.e2e
def test_stall_past_default_read_timeout_timed(harness: Harness) -> None:
    """Stall past the default 60 s proxy_read_timeout; the log has $request_time."""
    _stall_default_timeout(harness, "stall_past_default_read_timeout_timed", TIMED_FORMAT)


@pytest.mark.e2e
def test_stall_past_default_read_timeout_untimed(harness: Harness) -> None:
    """Stall past the default 60 s proxy_read_timeout; plain ``main`` (no timings)."""
    _stall_default_timeout(harness, "stall_past_default_read_timeout_untimed", MAIN_FORMAT)


@pytest.mark.e2e
def test_stall_json_log_format(harness: Harness) -> None:
    """Stall past the default 60 s proxy_read_timeout, the access log in Nginx's JSON form
    (``log_format main escape=json '{"time":"$time_iso8601",...}'``), no tool option."""
    _stall_default_timeout(harness, "stall_json_log_format", JSON_FORMAT)


# -- 6 ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_two_outages_one_log(harness: Harness) -> None:
    """Two separate faults in one log: the app is SIGKILLed for 5 minutes (502), serves
    normally for 7, then stalls for 5 (504 after the 20 s proxy_read_timeout). The tool
    must report two incidents, each matched to its fault (start, end, users, cause)."""
    h = harness
    pre, f1, gap, f2, post = 7 * 60, 5 * 60, 7 * 60, 5 * 60, 5 * 60
    scn = Scenario(
        "two_outages_one_log",
        "upstream_unreachable",
        pre_s=pre,
        fault_s=f1,
        post_s=post,
        expected_causes=("upstream_unreachable", "upstream_timeout"),
        total_s=pre + f1 + gap + f2 + post,
    )
    app, lb = _single_app_edge(h)
    h.begin(scn)
    lb.start()
    h.start_traffic(lb.port, make_users(USERS), RATE, 16)
    h.start_probe(lb.port)
    t = pre
    h.at(t)
    h.fault_begins()
    app.kill()
    t += f1
    h.at(t)
    app.start()
    h.fault_ends()
    t += gap
    h.at(t)
    h.fault_begins()
    app.set("stall")
    t += f2
    h.at(t)
    app.set()
    h.fault_ends()
    h.at(t + post)
    check(h.finish(lb))


# -- 7 ---------------------------------------------------------------------------------

#: Europe/Berlin springs forward at 01:00 UTC on 26 March 2023 (02:00 CET -> 03:00 CEST).
DST_DAY_START = float(calendar.timegm((2023, 3, 26, 0, 50, 0)))


@pytest.mark.e2e
def test_tz_dst_and_rotation(harness: Harness) -> None:
    """Nginx runs with ``TZ=Europe/Berlin`` on the night DST starts: the run covers 00:50 to
    01:10 UTC, the clocks jump from 02:00 CET to 03:00 CEST at 01:00 UTC, in the middle of
    the fault (the app SIGKILLed at 00:58, restarted at 01:04). The error log is in local
    time without an offset (01:58 ... 03:04); the access log's $time_local has +0100, then
    +0200. Four minutes into the fault (01:02 UTC) logrotate runs (``mv access.log access.log.1; mv
    error.log error.log.1; nginx -s reopen``); afterwards the older pieces are gzipped
    (``access.log.1.gz``, ``error.log.1.gz``, Nginx's names kept).

    Real Nginx detail this captures: the master process logs the reopen signal with the
    offset it cached before the change (``02:01:59 ... signal 10 (SIGUSR1) received``, a
    local time that does not exist that night), its next line is 03:01:59."""
    h = harness
    if not Path("/usr/share/zoneinfo/Europe/Berlin").exists():
        raise E2EUnavailable(
            "the DST scenario needs the tz database (Debian: apt-get install tzdata)"
        )
    scn = Scenario(
        "tz_dst_and_rotation",
        "upstream_unreachable",
        pre_s=PRE,
        fault_s=FAULT,
        post_s=POST,
        fake_start=DST_DAY_START,
        notes=["TZ=Europe/Berlin, DST starts at 01:00 UTC mid-fault; rotated at 01:02 UTC"],
    )
    app, lb = _single_app_edge(h, tz="Europe/Berlin")
    h.begin(scn)
    lb.start()
    h.start_traffic(lb.port, make_users(USERS), RATE, 6)
    h.start_probe(lb.port)
    h.at(scn.pre_s)
    h.fault_begins()
    app.kill()
    h.at(scn.pre_s + 4 * 60)  # 01:02 UTC, 03:02 CEST: two minutes after the DST change
    lb.rotate()
    h.at(scn.pre_s + scn.fault_s)
    app.start()
    h.fault_ends()
    h.at(scn.pre_s + scn.fault_s + scn.post_s)
    result = h.finish(lb)
    names = sorted(p.name for p in lb.log_dir.iterdir())
    assert names == ["access.log", "access.log.1.gz", "error.log", "error.log.1.gz"], names
    # The logs really cross the change: both offsets, local error-log times on both sides.
    offsets = {ln.split("]")[0][-5:] for p in lb.access_logs() for ln in read_lines(p)}
    assert offsets == {"+0100", "+0200"}, offsets
    hours = {ln[11:13] for p in lb.error_logs() for ln in read_lines(p)}
    assert {"01", "03"} <= hours, hours
    check(result)


# -- 8 ---------------------------------------------------------------------------------


def _web_to_app(h: Harness, name: str, app: App) -> Nginx:
    """A web host proxying everything to its own app (timings in its log)."""
    web = h.nginx(name)
    web.configure(
        f"""
    server {{
        listen {web.address};
        server_name {SITE};
{proxy_location(app.address)}
    }}""",
        log_format=TIMED_FORMAT,
    )
    return web


def _lb_over_two_web_hosts(h: Harness, scn: Scenario) -> tuple[Nginx, App]:
    """lb-1 (the edge, ``$upstream_addr`` logged) round-robins over web-1 and web-2, each in
    front of its own app; all started, the scenario begun. Returns lb-1 and app-2."""
    app1, app2 = h.app("app-1"), h.app("app-2")
    app1.start()
    app2.start()
    web1, web2 = _web_to_app(h, "web-1", app1), _web_to_app(h, "web-2", app2)
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_web", [web1.address, web2.address])
        + edge_server(h, lb, proxy_location("shop_web"), static=False),
        edge=True,
        log_format=TIMED_FORMAT,
    )
    h.begin(scn)
    for n in (web1, web2, lb):
        n.start()
    return lb, app2


@pytest.mark.e2e
def test_lb_two_web_hosts_one_app_dies(harness: Harness) -> None:
    """lb-1 (the edge) round-robins over web-1 and web-2 (``proxy_next_upstream off``,
    never marked down); each web host proxies to its own app. app-2 is SIGKILLed: web-2
    answers 502 (its error log: connect() refused to app-2) and lb-1 relays those 502s —
    half of the requests fail, through web-2 only, while web-1 serves.

    Expected cause ``upstream_partial``, culprit host web-2: what an SRE reads is that one
    of lb-1's two upstreams (web-2) fails while the other serves, and that web-2 is where
    the broken dependency is. ``upstream_unreachable`` would be true of web-2 alone but,
    as the incident's headline, would send the reader to a total outage that is not there.
    lb-1 logs ``$upstream_addr`` (TIMED_FORMAT), tying the failing address to web-2."""
    h = harness
    scn = Scenario(
        "lb_two_web_hosts_one_app_dies",
        "upstream_partial",
        pre_s=PRE,
        fault_s=FAULT,
        post_s=POST,
        culprit_host="web-2",
    )
    lb, app2 = _lb_over_two_web_hosts(h, scn)
    check(run_phases(h, scn, lb, app2.kill, app2.start))


@pytest.mark.e2e
def test_lb_two_web_hosts_one_app_stalls(harness: Harness) -> None:
    """The same topology; app-2 hangs instead. lb-1 and web-2 both wait 20 s
    (``proxy_read_timeout``), so both time out and both log ``upstream timed out``: lb-1
    toward web-2's address, web-2 toward app-2 (whichever gives up first, the other logs
    a 504 or the 499 of an abandoned request). The edge wrote most of the errors, but the
    culprit is web-2: the cause must name the host behind the edge, not the proxy."""
    h = harness
    scn = Scenario(
        "lb_two_web_hosts_one_app_stalls",
        "upstream_timeout",
        pre_s=PRE,
        fault_s=FAULT,
        post_s=POST,
        culprit_host="web-2",
    )
    lb, app2 = _lb_over_two_web_hosts(h, scn)
    check(run_phases(h, scn, lb, lambda: app2.set("stall"), lambda: app2.set(), threads=16))


# -- 9 ---------------------------------------------------------------------------------

TLS_NAME = "app.shop.internal"


@pytest.mark.e2e
def test_tls_upstream_cert_swapped(harness: Harness, tmp_path: Path) -> None:
    """The edge proxies to an HTTPS app and verifies it (``proxy_ssl_verify on``, a test
    CA made now with openssl, ``proxy_ssl_name``). The app restarts with a self-signed
    certificate for the same name: ``upstream SSL certificate verify error: (18:self-signed
    certificate)``, 502 for every proxied request; it restarts with the CA-signed one to
    repair. (Each restart leaves a fraction of a second of refused connections.)"""
    h = harness
    scn = Scenario(
        "tls_upstream_cert_swapped", "tls_failure", pre_s=PRE, fault_s=FAULT, post_s=POST
    )
    certs = make_ca(tmp_path / "pki", TLS_NAME, h.libfaketime)
    app = h.app("app")
    app.start(tls=(certs["good"], certs["good_key"]))
    lb = h.nginx("lb-1")
    tls = f"""proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate {certs["ca"]};
            proxy_ssl_name {TLS_NAME};
            proxy_ssl_server_name on;"""
    lb.configure(
        upstream_block("shop_app", [app.address])
        + edge_server(h, lb, proxy_location("shop_app", tls, scheme="https")),
        edge=True,
    )

    def swap_bad() -> None:
        app.kill()
        app.start(tls=(certs["self"], certs["self_key"]))

    def swap_good() -> None:
        app.kill()
        app.start(tls=(certs["good"], certs["good_key"]))

    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, swap_bad, swap_good))


# -- 10 --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_fd_exhaustion_slow_clients(harness: Harness) -> None:
    """One worker with ``worker_rlimit_nofile 96`` (worker_connections 512 would be
    enough). Slow clients from three addresses of their own (127.9.0.x) keep ~600
    connections open or queued, each sending a partial request line and nothing more:
    the worker runs out of descriptors (``accept4() failed (24: Too many open files)``)
    and users' connections wait in the backlog, time out (users give up after a minute) or
    fail. Nginx closes each slow
    connection after client_header_timeout (60 s, its default) and logs a 400/408 with
    ``"-"`` as the request; when the burst stops, service recovers.

    The slow clients are the cause, not users: they are left out of the truth's users and
    of the self-check. Truth: users that got an error or no answer."""
    h = harness
    scn = Scenario(
        "fd_exhaustion_slow_clients", "capacity_exhausted", pre_s=PRE, fault_s=FAULT, post_s=POST
    )
    app = h.app("app")
    app.start()
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [app.address]) + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
        workers=1,
        worker_connections=512,
        main="worker_rlimit_nofile 96;",
    )
    bursts = []

    def burst() -> None:
        addrs = [f"127.9.0.{i}" for i in (1, 2, 3)]
        bursts.append(h.start_slow_clients(lb.port, addrs, 600))

    def calm() -> None:
        bursts[0].stop()

    # Users give up after a minute (1 real s) of waiting; enough threads to keep offering
    # 40 requests a minute while each waits that long.
    h.read_timeout_s = 1.0
    h.begin(scn)
    lb.start()
    check(run_phases(h, scn, lb, burst, calm, threads=96))


# -- slowness alone --------------------------------------------------------------------


@pytest.mark.e2e
def test_product_pages_slow_nothing_fails(harness: Harness) -> None:
    """The app answers every ``/products/`` request after 0.1 real s (6 s of log time,
    twenty times the usual p95) for six minutes; every request still gets its 200. Nginx logs
    nothing but the time (``$request_time``, ``$upstream_response_time``): no error line,
    no failed status. The incident is the slowness, its users those who waited past the
    bar (3x the p95 the clients saw before, and 0.5 s over it), counted from the clients'
    own clocks; the backend's own time is where it went."""
    h = harness
    scn = Scenario("product_pages_slow", "upstream_timeout", pre_s=PRE, fault_s=FAULT,
                   post_s=POST, slowness=True)
    app, lb = _single_app_edge(h, log_format=TIMED_FORMAT)
    h.begin(scn)
    lb.start()
    result = run_phases(h, scn, lb, lambda: app.set("slow", "/products/", "0.1"), app.set)
    check(result)
    truth = json.loads((Path(result["dir"]) / "truth.json").read_text())
    assert 0.5 < truth["slow_bar_s"] < 6.0, truth["slow_bar_s"]  # under the 6 s it slowed to
    assert truth["outcomes_in_fault"].keys() == {"200"}, truth["outcomes_in_fault"]
    assert 20 < truth["users_pct"] < 80, truth["users_pct"]
    (inc,) = result["tool"]
    assert inc["requests_failed"] == 0


@pytest.mark.e2e
def test_lb_two_web_hosts_one_app_slow(harness: Harness) -> None:
    """lb-1 over web-1 and web-2 as above; app-2 answers ``/products/`` after 0.1 real s
    (6 s of log time) for six minutes, every request a 200. lb-1 sees its upstream time
    grow; web-2's own log shows its requests slowed while web-1's kept their usual time:
    the cause names web-2, the host behind the edge that slowed."""
    h = harness
    scn = Scenario("lb_two_web_hosts_one_app_slow", "upstream_timeout", pre_s=PRE,
                   fault_s=FAULT, post_s=POST, slowness=True, culprit_host="web-2")
    lb, app2 = _lb_over_two_web_hosts(h, scn)
    result = run_phases(h, scn, lb, lambda: app2.set("slow", "/products/", "0.1"), app2.set)
    check(result)
    (inc,) = result["tool"]
    assert inc["requests_failed"] == 0
