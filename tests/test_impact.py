"""Impact options and figures on small hand-built datasets: the user key, excluded clients,
breakdowns by upstream and route, latency against the baseline, error budget and burn rate."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from tests.conftest import T0, make_dataset, request_row
from timeline import AnalysisOptions, UsageError, build, to_json, to_markdown
from timeline.cli import ExitCode, app
from timeline.clients import match_exclusions, parse_exclusions, parse_user_key, user_keys
from timeline.impact import TOP_N, measure_slo, route_of
from timeline.model import Breakdown, Impact, Incident

Traffic = Callable[..., list[dict[str, Any]]]

#: The window every test here gives instead of detection: minutes 60 to 80 of the traffic.
WIN = (T0 + 3600.0, T0 + 4800.0)
SEED = Path(__file__).resolve().parents[1] / "sample_logs" / "seed-outage"

runner = CliRunner()


def _failing(traffic: Traffic) -> list[dict[str, Any]]:
    """Three hours of steady traffic; a third of the users fail inside :data:`WIN`."""
    bad = {f"198.51.0.{i}" for i in range(1, 80)}
    return traffic(fail=lambda ts, user: WIN[0] <= ts <= WIN[1] and user in bad)


def _row(ts: float, client: str, status: int, **cols: Any) -> dict[str, Any]:
    """A request row with extra columns set (remote_user, upstream_addr, request_time...)."""
    row = request_row(ts, client, status, path=cols.pop("path", "/"),
                      ua=cols.pop("ua", "Mozilla/5.0"))
    row.update(cols)
    return row


def _impact(rows: list[dict[str, Any]], **options: Any) -> Impact:
    a = build(make_dataset(rows), window=WIN, options=AnalysisOptions(**options))
    assert len(a.incidents) == 1
    return a.incidents[0].impact


# --user-key


def test_ip_plus_ua_splits_users_behind_one_address(traffic: Traffic) -> None:
    rows = _failing(traffic)
    # One address (a NAT) with two browsers: one fails, the other does not.
    rows += [_row(WIN[0] + 60 + i, "203.0.113.7", 502, ua="Firefox/111") for i in range(3)]
    rows += [_row(WIN[0] + 90 + i, "203.0.113.7", 200, ua="Chrome/111") for i in range(3)]
    by_ip = _impact([dict(r) for r in rows])
    by_ip_ua = _impact([dict(r) for r in rows], user_key="ip+ua")
    # The traffic fixture's users all send one user agent: only the NAT address splits.
    assert by_ip_ua.users_total == by_ip.users_total + 1
    assert by_ip_ua.users_affected == by_ip.users_affected
    assert by_ip_ua.requests_failed == by_ip.requests_failed


def test_field_user_key_falls_back_to_the_address_when_unset(traffic: Traffic) -> None:
    rows = _failing(traffic)
    # alice logs in from three addresses and fails once: one user, not three.
    for i, ip in enumerate(("203.0.113.1", "203.0.113.2", "203.0.113.3")):
        rows.append(_row(WIN[0] + 100 + i, ip, 502 if i == 0 else 200, remote_user="alice"))
    # "-" is Nginx's empty value: these count by address, as two users.
    rows.append(_row(WIN[0] + 200, "203.0.113.4", 502, remote_user="-"))
    rows.append(_row(WIN[0] + 201, "203.0.113.5", 200, remote_user="-"))
    by_ip = _impact([dict(r) for r in rows])
    by_user = _impact([dict(r) for r in rows], user_key="remote_user")
    assert by_user.users_total == by_ip.users_total - 2
    assert by_user.users_affected == by_ip.users_affected
    assert _impact([dict(r) for r in rows], user_key="$remote_user") == by_user


def test_forwarded_for_key_takes_the_first_address() -> None:
    rows = pd.DataFrame([
        _row(T0, "10.0.0.1", 200, forwarded_for="198.51.100.7, 10.0.0.9"),
        _row(T0, "10.0.0.2", 200, forwarded_for="198.51.100.7"),
        _row(T0, "10.0.0.3", 200, forwarded_for=""),
    ])
    keys = user_keys(rows, parse_user_key("forwarded_for"))
    assert keys[0] == keys[1] != keys[2]
    assert keys[2] == "ip:10.0.0.3"


@pytest.mark.parametrize(("spec", "message"), [
    ("bogus", "--user-key bogus: unknown field"),
    ("$1x", "--user-key $1x: unknown field"),
    ("$cookie session", "unknown field (use ip, ip+ua, a log_format variable"),
])
def test_unknown_user_key_is_a_usage_error(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        AnalysisOptions(user_key=spec)


def test_user_key_is_shown_in_the_report(traffic: Traffic) -> None:
    a = build(make_dataset(_failing(traffic)), window=WIN,
              options=AnalysisOptions(user_key="ip+ua"))
    doc = json.loads(to_json(a))
    assert doc["user_key"] == "ip+ua"
    md = to_markdown(a)
    assert "(users are pairs of client address and user agent: `--user-key ip+ua`)" in md
    method = md[md.index("### How the figures were computed"):]
    assert "At the edge tier, users are pairs of client address and user agent " \
           "(`--user-key ip+ua`)" in method
    field = to_markdown(build(make_dataset(_failing(traffic)), window=WIN,
                              options=AnalysisOptions(user_key="remote_user")))
    assert "users are remote_user values, or the client address where the field is empty " \
           "or -: `--user-key remote_user`" in field


# --exclude-client


@pytest.mark.parametrize(("pattern", "message"), [
    ("10.0.0.300/8", "not an IP address, CIDR network"),
    ("checker", "not an IP address, CIDR network"),
    ("ua:", "empty regular expression"),
    ("ua:(", "bad regular expression"),
    ("path:metrics", "a path prefix starts with /"),
])
def test_bad_exclusion_is_a_usage_error(pattern: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(f"--exclude-client {pattern}: {message}")):
        parse_exclusions([pattern])


def test_match_exclusions_by_network_user_agent_and_path() -> None:
    rows = pd.DataFrame([
        _row(T0, "10.1.2.3", 200),                           # 0: 10.0.0.0/8
        _row(T0, "::ffff:10.9.9.9", 200),                    # 1: IPv4-mapped, still 10/8
        _row(T0, "2001:db8::5", 200),                        # 2: 2001:db8::/32
        _row(T0, "198.51.100.1", 200, ua="UptimeBot/2.0"),   # 3: ua:
        _row(T0, "198.51.100.1", 200, ua="Mozilla/5.0"),     # 4: same address, a browser
        _row(T0, "198.51.100.2", 200, path="/metrics"),      # 5: only /metrics
        _row(T0, "198.51.100.2", 200, path="/metrics/x"),    # 6: only /metrics
        _row(T0, "198.51.100.3", 200, path="/metrics"),      # 7: /metrics and a page
        _row(T0, "198.51.100.3", 200, path="/cart"),         # 8
        _row(T0, "unix:", 200),                              # 9: not an address
    ])
    rules = parse_exclusions(["10.0.0.0/8", "2001:db8::/32", "ua:(?i)uptimebot",
                              "path:/metrics"])
    assert match_exclusions(rows, rules).tolist() == [0, 0, 1, 2, -1, 3, 3, -1, -1, -1]
    # The first rule that matches wins.
    both = parse_exclusions(["ua:Uptime", "198.51.100.0/24"])
    assert match_exclusions(rows, both).tolist()[3:5] == [0, 1]


def test_excluded_clients_are_left_out_of_users_and_requests(traffic: Traffic) -> None:
    rows = _failing(traffic)
    extra = [_row(WIN[0] + i * 30, "192.0.2.10", 502, ua="MyChecker/1.0") for i in range(40)]
    extra += [_row(WIN[0] + i * 60 + 5, "2001:db8::5", 502) for i in range(20)]
    alone = _impact([dict(r) for r in rows])
    with_extra = _impact([dict(r) for r in rows + extra],
                         exclude_client=("ua:MyChecker", "2001:db8::/32", "path:/nothing"))
    assert with_extra.users_total == alone.users_total
    assert with_extra.users_affected == alone.users_affected
    assert with_extra.requests_total == alone.requests_total
    assert with_extra.requests_failed == alone.requests_failed
    assert [(e.rule, e.clients, e.requests) for e in with_extra.excluded] == [
        ("ua:MyChecker", 1, 40), ("2001:db8::/32", 1, 20), ("path:/nothing", 0, 0)]
    # Without the option the extra clients are users like any other.
    assert _impact([dict(r) for r in rows + extra]).users_total == alone.users_total + 2


def test_exclusions_are_reported(traffic: Traffic) -> None:
    rows = _failing(traffic) + [_row(WIN[0] + 5, "192.0.2.10", 502, ua="My|Checker")]
    a = build(make_dataset(rows), window=WIN,
              options=AnalysisOptions(exclude_client=("ua:My\\|Checker",)))
    doc = json.loads(to_json(a))
    assert doc["client_exclusions"] == ["ua:My\\|Checker"]
    assert doc["incidents"][0]["impact"]["excluded_clients"] == [
        {"rule": "ua:My\\|Checker", "clients": 1, "requests": 1}]
    md = to_markdown(a)
    assert "| `ua:My\\\\|Checker` | 1 | 1 |" in md
    assert "Clients excluded with `--exclude-client` (not users): `ua:My\\\\|Checker`." in md


# Breakdowns


@pytest.mark.parametrize(("path", "route"), [
    ("/api/orders/123/items", "/api/orders/:id/items"),
    ("/api/orders/123/items?page=2&id=9", "/api/orders/:id/items"),
    ("/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/avatar", "/u/:id/avatar"),
    ("/commit/5f3a9c0b1e", "/commit/:id"),
    ("/feedface/deadbeef", "/feedface/deadbeef"),  # hex letters only: words, not ids
    ("/reset/dGhpc2lzYXRva2VuMTIzNDU2", "/reset/:id"),
    ("/blog/how-to-configure-nginx", "/blog/how-to-configure-nginx"),
    ("/static/app.3f9c1a7e.js", "/static/app.3f9c1a7e.js"),
    ("/", "/"),
    ("", ""),
])
def test_route_of(path: str, route: str) -> None:
    assert route_of(path) == route


def test_route_of_cuts_long_paths() -> None:
    assert len(route_of("/" + "a/" * 200)) == 100


def test_breakdown_by_route_and_upstream() -> None:
    rows = []
    for i in range(300):  # steady, healthy traffic over the whole input
        rows.append(_row(T0 + i * 20, f"198.51.0.{i % 50}", 200, path="/", upstream_addr="-"))
    t = WIN[0] + 10
    for i in range(6):
        rows.append(_row(t + i, "198.51.0.1", 502, path=f"/api/orders/{100 + i}/items?x=1",
                         upstream_addr="10.0.1.12:80"))
    for i in range(3):
        rows.append(_row(t + 10 + i, "198.51.0.2", 200, path=f"/api/orders/{i}/items",
                         upstream_addr="10.0.1.12:80, 10.0.1.13:80"))
    # Two routes with the same failures: ordered by name.
    for p in ("/b", "/a"):
        rows.append(_row(t + 20, "198.51.0.3", 502, path=p, upstream_addr="10.0.1.13:80"))
    imp = _impact(rows)
    assert imp.by_route[:3] == [Breakdown("/api/orders/:id/items", 9, 6),
                                Breakdown("/a", 1, 1), Breakdown("/b", 1, 1)]
    assert (imp.routes_seen, imp.routes_failing) == (4, 3)  # "/" never failed: not listed
    assert imp.by_upstream == [Breakdown("10.0.1.12:80", 9, 6), Breakdown("10.0.1.13:80", 5, 2)]
    assert imp.upstreams_seen == 2


def test_breakdown_keeps_the_top_ten(traffic: Traffic) -> None:
    rows = _failing(traffic)
    for k in range(TOP_N + 3):
        rows += [_row(WIN[0] + 30 + k, "203.0.113.9", 502, path=f"/page-{chr(97 + k)}")
                 for _ in range(k + 1)]
    imp = _impact(rows)
    assert len(imp.by_route) == TOP_N
    fails = [b.failed for b in imp.by_route]
    assert fails == sorted(fails, reverse=True)
    assert imp.routes_failing == TOP_N + 4  # the thirteen pages and "/"


def test_upstream_not_logged(traffic: Traffic) -> None:
    a = build(make_dataset(_failing(traffic)), window=WIN)
    assert a.incidents[0].impact.by_upstream == []
    md = to_markdown(a)
    assert "By upstream: not logged (no `$upstream_addr` in the access logs" in md
    assert json.loads(to_json(a))["incidents"][0]["impact"]["by_upstream"] == []


def test_hostile_route_is_escaped_in_markdown(traffic: Traffic) -> None:
    hostile = "/x|y<script>alert(1)</script>`` ` \x07\x1b[31m\u202e"
    rows = _failing(traffic)
    rows += [_row(WIN[0] + 30 + i, "203.0.113.9", 502, path=hostile,
                  upstream_addr="`up|stream`") for i in range(50)]
    a = build(make_dataset(rows), window=WIN)
    assert Breakdown(route_of(hostile), 50, 50) in a.incidents[0].impact.by_route
    md = to_markdown(a)
    for raw in ("\x07", "\x1b", "\u202e"):
        assert raw not in md
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<script>" not in html
    def cells_of(row: str) -> list[str]:
        return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)

    rows_with = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "/x|y" in r]
    # The route table's row, and the "what changed" table's (ten cells, none split).
    route_rows = [r for r in rows_with if len(cells_of(r)) == 3]
    assert len(route_rows) == 1
    assert all(len(cells_of(r)) == 10 for r in rows_with if r not in route_rows)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", route_rows[0], re.S)
    # The whole path stays in its cell, as code: the pipe did not split the row.
    assert len(cells) == 3
    assert cells[0].startswith("<code>/x|y&lt;script&gt;alert(1)&lt;/script&gt;``")
    assert cells[1:] == ["50", "50"]
    up_rows = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "up|stream" in r]
    assert re.findall(r"<td[^>]*>(.*?)</td>", up_rows[0], re.S)[1:] == ["50", "50"]


# Latency


def test_latency_in_the_window_against_the_hour_before() -> None:
    rows = []
    for i in range(360):  # two hours, one request every 20 s
        ts = T0 + i * 20
        inside = WIN[0] <= ts <= WIN[1]
        rows.append(_row(ts, f"198.51.0.{i % 40}", 502 if inside and i % 2 else 200,
                         request_time=(2.0 if inside else 0.1) + (i % 10) / 1000))
    # A probe's slow requests do not count: it is not a user.
    rows += [_row(WIN[0] + i, "10.0.0.50", 200, path="/healthz", ua="kube-probe/1.27",
                  request_time=30.0) for i in range(100)]
    imp = _impact(rows)
    lat = imp.latency["request_time"]
    assert lat is not None and lat.window is not None and lat.baseline is not None
    assert lat.window.n == 61 and lat.baseline.n == 180
    in_window = np.array([2.0 + (i % 10) / 1000 for i in range(180, 241)])
    assert lat.window.p50_s == pytest.approx(float(np.percentile(in_window, 50)))
    assert lat.window.p95_s == pytest.approx(float(np.percentile(in_window, 95)))
    assert 0.1 <= lat.baseline.p50_s <= lat.baseline.p95_s < 0.11
    # The baseline is the hour before the start (the data began earlier).
    assert imp.latency_baseline == (WIN[0] - 3600, WIN[0] - 20)
    assert imp.latency["upstream_time"] is None


def test_latency_not_logged(traffic: Traffic) -> None:
    a = build(make_dataset(_failing(traffic)), window=WIN)
    assert a.incidents[0].impact.latency == {"request_time": None, "upstream_time": None}
    md = to_markdown(a)
    assert "- request time ($request_time): not logged" in md
    lat = json.loads(to_json(a))["incidents"][0]["impact"]["latency"]
    assert lat == {"baseline_span": None, "request_time": None, "upstream_time": None,
                   "behind": []}


def test_latency_in_the_report() -> None:
    rows = [_row(T0 + i * 20, "198.51.0.1", 502 if WIN[0] <= T0 + i * 20 <= WIN[1] else 200,
                 request_time=1.5 if WIN[0] <= T0 + i * 20 <= WIN[1] else 0.05,
                 upstream_time=0.04) for i in range(360)]
    a = build(make_dataset(rows), window=WIN)
    md = to_markdown(a)
    assert "- request time ($request_time): 1.50 s / 1.50 s in the window, 50 ms / 50 ms " \
           "before" in md
    assert "- upstream response time ($upstream_response_time): 40 ms / 40 ms" in md
    doc = json.loads(to_json(a))["incidents"][0]["impact"]["latency"]
    assert doc["request_time"]["window"] == {"n": 61, "p50_s": 1.5, "p95_s": 1.5}
    assert doc["baseline_span"] == {"from": "2023-03-20T11:00:00Z",
                                    "to": "2023-03-20T11:59:40Z"}


# --slo


def _bins(failed: list[int], total: int = 100) -> pd.DataFrame:
    index = T0 + np.arange(len(failed)) * 60.0
    return pd.DataFrame({"failed": failed, "total": [total] * len(failed)}, index=index)


def test_error_budget_and_burn_rates() -> None:
    # Two hours of 100 requests a minute; 10 failures a minute in minutes 60-69.
    bins = _bins([10 if 60 <= b < 70 else 0 for b in range(120)])
    inc = Incident(start=T0 + 3600, end=T0 + 4199, signals=[])
    inc.impact.requests_failed = 100
    measure_slo(inc, bins, 99.9, 60)
    slo = inc.slo
    assert slo is not None
    assert slo.period_requests == 12000
    assert slo.budget_requests == pytest.approx(12.0)
    assert slo.budget_consumed_pct == pytest.approx(100 * 100 / 12)
    # 5 min: 50 of 500 failed = 10% = 100x the 0.1% allowed; first at minute 64.
    assert slo.peak_burn_short == pytest.approx(100.0)
    assert slo.peak_burn_short_at == T0 + 65 * 60
    # 1 h: 100 of 6000 at the end of minute 69.
    assert slo.peak_burn_long == pytest.approx(100 / 6000 / 0.001)
    assert slo.peak_burn_long_at == T0 + 70 * 60
    # 1 h above 14.4 needs 87 failures: 90 at the end of minute 68.
    assert slo.page_at == T0 + 69 * 60
    # 6 h (all 64 minutes there are) above 6: 40 of 6400 at the end of minute 63.
    assert slo.slow_page_at == T0 + 64 * 60
    assert (slo.long_window_s, slo.short_window_s) == (3600, 300)


def test_page_condition_never_held() -> None:
    bins = _bins([1 if 60 <= b < 70 else 0 for b in range(120)])
    inc = Incident(start=T0 + 3600, end=T0 + 4199, signals=[])
    inc.impact.requests_failed = 10
    measure_slo(inc, bins, 99.0, 60)
    assert inc.slo is not None
    assert inc.slo.page_at is None and inc.slo.slow_page_at is None
    assert inc.slo.peak_burn_short == pytest.approx(1.0)


def test_wide_bins_use_one_bin_as_the_short_window() -> None:
    bins = _bins([0, 0, 50, 0], total=1000)
    inc = Incident(start=T0 + 2 * 900, end=T0 + 3 * 900 - 1, signals=[])
    measure_slo(inc, bins.set_axis(T0 + np.arange(4) * 900.0), 99.9, 900)
    assert inc.slo is not None
    assert (inc.slo.long_window_s, inc.slo.short_window_s) == (3600, 900)
    assert inc.slo.peak_burn_short == pytest.approx(50.0)


def test_slo_in_the_report_only_when_given(traffic: Traffic) -> None:
    data = make_dataset(_failing(traffic))
    plain = build(data, window=WIN)
    assert plain.incidents[0].slo is None
    assert "budget" not in to_markdown(plain).lower()
    assert "burn" not in to_markdown(plain).lower()
    assert json.loads(to_json(plain))["incidents"][0]["slo"] is None
    a = build(data, window=WIN, options=AnalysisOptions(slo=99.5))
    md = to_markdown(a)
    assert "**Error budget** (target 99.5% over the analysed span" in md
    assert "The page condition (1 h and 5 min burn rates both above 14.4)" in md
    slo = json.loads(to_json(a))["incidents"][0]["slo"]
    inc = a.incidents[0]
    assert slo["failed"] == inc.impact.requests_failed
    assert slo["period"]["requests"] == int(a.bins["total"].sum())
    assert slo["budget_consumed_pct"] == pytest.approx(
        100 * inc.impact.requests_failed / (slo["period"]["requests"] * 0.005), abs=1e-3)


@pytest.mark.parametrize("value", [0.0, 100.0, 150.0, float("nan")])
def test_bad_slo_is_a_usage_error(value: float) -> None:
    with pytest.raises(UsageError, match="--slo"):
        AnalysisOptions(slo=value)


# The CLI: each option's bad input is one line naming the option, exit code 2.


@pytest.mark.parametrize(("args", "message"), [
    (["--user-key", "$cookie-session"], "--user-key $cookie-session: unknown field"),
    (["--user-key", "email"], "--user-key email: unknown field"),
    (["--exclude-client", "10.0.0.0/33"], "--exclude-client 10.0.0.0/33: not an IP address"),
    (["--exclude-client", "ua:(a"], "--exclude-client ua:(a: bad regular expression"),
    (["--exclude-client", "path:x"], "--exclude-client path:x: a path prefix starts with /"),
    (["--slo", "100"], "--slo 100: give the availability target as a percentage"),
])
def test_cli_bad_option_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["build", str(SEED), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == ExitCode.USAGE
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("incident-timeline: error: " + message)
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_cli_options_reach_the_report(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = runner.invoke(app, ["build", str(SEED), "-o", str(out), "-q",
                                 "--user-key", "ip+ua", "--slo", "99.9",
                                 "--exclude-client", "ua:Firefox",
                                 "--exclude-client", "2001:db8::/32"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "timeline.json").read_text())
    assert doc["user_key"] == "ip+ua"
    assert doc["client_exclusions"] == ["ua:Firefox", "2001:db8::/32"]
    assert doc["slo_target_pct"] == 99.9
    imp = doc["incidents"][0]["impact"]
    firefox, v6 = imp["excluded_clients"]
    assert firefox["rule"] == "ua:Firefox" and firefox["clients"] > 0
    assert v6 == {"rule": "2001:db8::/32", "clients": 0, "requests": 0}
    assert doc["incidents"][0]["slo"]["page_condition_first_held"] is not None
    assert imp["by_route"][0] == max(imp["by_route"], key=lambda b: b["failed"])


def test_cookie_user_key_from_a_custom_log_format(tmp_path: Path) -> None:
    """--user-key $cookie_session: the custom format logs the cookie; users behind one
    address (an office NAT) with different sessions count apart, users without a session
    fall back to their address."""
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" sid=$cookie_session')
    lines = []
    for m in range(120):
        for k in range(20):
            t = datetime(2024, 5, 6, 9 + m // 60, m % 60, 3 * k, tzinfo=UTC)
            # 40 sessions behind one NAT address, plus 20 clients without a cookie.
            nat = k % 2 == 0
            client = "198.51.100.1" if nat else f"203.0.113.{k}"
            sid = f"s{(m * 7 + k) % 40}" if nat else "-"
            status = 502 if 60 <= m < 80 and sid in ("s1", "s3", "s5", "-") else 200
            lines.append(f'{client} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET / HTTP/1.1" '
                         f'{status} 5 "-" "Mozilla/5.0" sid={sid}\n')
    log = tmp_path / "edge" / "access.log"
    log.parent.mkdir()
    log.write_text("".join(lines))
    out = tmp_path / "out"
    res = runner.invoke(app, ["build", str(log), "-o", str(out), "-q", "--log-format", fmt,
                              "--user-key", "$cookie_session"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "timeline.json").read_text())
    assert doc["user_key"] == "$cookie_session"
    imp = doc["incidents"][0]["impact"]
    # The sessions that failed, plus the cookie-less clients that failed.
    failed_sids = {"s1", "s3", "s5"}
    failed_ips = {f"203.0.113.{k}" for k in range(1, 20, 2)}
    assert imp["users_affected"] == len(failed_sids) + len(failed_ips)
    assert imp["users_total"] == 40 + len(failed_ips)
