"""The correlator on small hand-built datasets: windows, edges, impact, causes."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import T0, event_row, make_dataset, request_row
from timeline import build

Traffic = Callable[..., list[dict[str, Any]]]


def test_quiet_traffic_has_no_incident(traffic: Traffic) -> None:
    rows = traffic()
    # Rare background 500s: one every 20 minutes.
    for m in range(0, 180, 20):
        rows.append(request_row(T0 + m * 60 + 30, "198.51.0.9", 500))
    assert build(make_dataset(rows)).incidents == []


def test_failure_ratio_window_refined_to_the_second(traffic: Traffic) -> None:
    start, end = T0 + 60 * 60 + 17, T0 + 90 * 60 + 41
    bad_users = {f"198.51.0.{i}" for i in range(1, 61)}

    def fail(ts: float, user: str) -> bool:
        return start <= ts <= end and user in bad_users

    rows = traffic(fail=fail)
    failing = [r for r in rows if r["status"] == 502]
    a = build(make_dataset(rows))
    assert len(a.incidents) == 1
    inc = a.incidents[0]
    # Edges are the first and last failing request, to the second.
    assert inc.start == min(r["ts"] for r in failing)
    assert inc.end == max(r["ts"] for r in failing)
    assert "failure_ratio" in inc.signals
    assert inc.impact.users_affected == len({r["client"] for r in failing})
    active = {r["client"] for r in rows if inc.start <= r["ts"] <= inc.end}
    assert inc.impact.users_total == len(active)
    assert 0 < inc.impact.requests_failed <= inc.impact.requests_total
    assert inc.impact.users_affected <= inc.impact.users_total


def test_short_blip_is_not_an_incident(traffic: Traffic) -> None:
    def fail(ts: float, user: str) -> bool:
        return T0 + 3600 <= ts < T0 + 3630

    assert build(make_dataset(traffic(fail=fail))).incidents == []


def test_two_separate_incidents(traffic: Traffic) -> None:
    def fail(ts: float, user: str) -> bool:
        return T0 + 1800 <= ts < T0 + 2400 or T0 + 7200 <= ts < T0 + 7800

    incs = build(make_dataset(traffic(fail=fail))).incidents
    assert len(incs) == 2
    assert incs[0].end < incs[1].start


def test_host_silence_while_others_serve(traffic: Traffic) -> None:
    gap = (T0 + 3600, T0 + 5400)

    def silent(ts: float, user: str) -> bool:
        return gap[0] <= ts < gap[1]

    rows = traffic(host="web-1", xff=True, seed=1) + traffic(host="web-2", xff=True, seed=2)
    rows += traffic(host="web-3", xff=True, seed=3, drop=silent, per_min=10)
    events = [event_row(gap[0] - 1, "reload", "web-3", "signal 1 (SIGHUP) received",
                        severity="info")]
    a = build(make_dataset(rows, events))
    assert len(a.incidents) == 1
    inc = a.incidents[0]
    assert inc.affected_hosts == ["web-3"]
    assert abs(inc.start - gap[0]) < 10 and abs(inc.end - gap[1]) < 10
    assert inc.causes[0].kind == "config_change" and inc.causes[0].host == "web-3"
    assert inc.impact.requests_lost_estimate == pytest.approx(300, abs=20)


def test_alert_gives_time_to_detect_and_watchdog_is_ignored(traffic: Traffic) -> None:
    def fail(ts: float, user: str) -> bool:
        return T0 + 3600 <= ts < T0 + 4800

    events = [
        event_row(T0 - 86400, "alert", "", "Watchdog", severity="info",
                  attrs={"alertname": "Watchdog"}, parser="alertmanager"),
        event_row(T0 + 3600 + 45, "alert", "lb-1:9113", "HighErrorRate", severity="critical",
                  end=T0 + 4900, attrs={"alertname": "HighErrorRate"}, parser="alertmanager"),
    ]
    inc = build(make_dataset(traffic(fail=fail), events)).incidents[0]
    assert inc.first_alert_name == "HighErrorRate"
    assert inc.time_to_detect_s == pytest.approx(45, abs=3)
    kinds = [e.kind for e in inc.timeline]
    assert "alert_firing" in kinds and "alert_resolved" in kinds


def _refused(peer: str) -> list[dict[str, Any]]:
    """lb-1's error log: 100 ``connect() failed (111)`` toward ``peer``, one every 10 s
    from T0 + 1 h."""
    return [event_row(T0 + 3600 + i * 10, "upstream_refused", "lb-1",
                      "connect() failed (<n>: Connection refused) while connecting to upstream",
                      attrs={"upstream": f"http://{peer}/"}, line=i + 1)
            for i in range(100)]


def test_upstream_refused_is_the_cause(traffic: Traffic) -> None:
    def fail(ts: float, user: str) -> bool:
        return T0 + 3600 <= ts < T0 + 4800

    events = _refused("10.0.1.13:80")
    inc = build(make_dataset(traffic(fail=fail), events)).incidents[0]
    assert inc.causes[0].kind == "upstream_unreachable"
    assert "10.0.1.13:80" in inc.causes[0].summary


def test_probes_are_not_users(traffic: Traffic) -> None:
    def fail(ts: float, user: str) -> bool:
        return T0 + 3600 <= ts < T0 + 4800

    rows = traffic(fail=fail)
    rows += [request_row(T0 + i * 15, "10.0.0.50", 502 if 3600 <= i * 15 < 4800 else 200,
                         path="/healthz", ua="Blackbox Exporter/0.23.0")
             for i in range(720)]
    a = build(make_dataset(rows))
    assert a.probe_clients == 1
    inc = a.incidents[0]
    users = {r["client"] for r in rows if inc.start <= r["ts"] <= inc.end}
    assert inc.impact.users_total == len(users) - 1
    assert "10.0.0.50" in users


def test_window_option_overrides_detection(traffic: Traffic) -> None:
    a = build(make_dataset(traffic()), window=(T0 + 600, T0 + 1200))
    assert len(a.incidents) == 1 and a.incidents[0].window_given
    assert a.incidents[0].impact.requests_total == pytest.approx(400, abs=5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_shuffled_input_gives_the_same_incident(seed: int) -> None:
    rnd = random.Random(seed)
    rows = []
    for m in range(120):
        for k in range(20):
            ts = T0 + m * 60 + k * 3
            user = f"203.0.113.{(m * 20 + k) % 200}"
            status = 503 if 40 <= m < 70 and k % 3 == 0 else 200
            rows.append(request_row(ts, user, status, line=m * 20 + k + 1))
    base = build(make_dataset([dict(r) for r in rows])).incidents
    rnd.shuffle(rows)
    again = build(make_dataset(rows)).incidents
    assert [(i.start, i.end) for i in base] == [(i.start, i.end) for i in again]
    assert len(base) == 1
    inc = base[0]
    assert inc.start <= inc.end
    assert inc.impact.users_affected <= inc.impact.users_total
    assert inc.impact.requests_failed <= inc.impact.requests_total
    assert np.isfinite(inc.impact.users_pct)


def test_4xx_surge_from_a_default_server_is_an_incident(traffic: Traffic) -> None:
    rows = traffic()
    start, end = T0 + 3600, T0 + 5400
    for r in rows:
        if start <= r["ts"] < end:
            r["status"] = 404  # the site fell to the default server
    a = build(make_dataset(rows))
    assert len(a.incidents) == 1
    inc = a.incidents[0]
    assert "client_errors" in inc.signals
    assert abs(inc.start - start) < 5 and abs(inc.end - end) < 5
    assert inc.impact.failing_statuses == [404]
    assert inc.impact.users_pct > 90


def test_a_scanner_burst_of_404s_is_not_an_incident(traffic: Traffic) -> None:
    rows = traffic()
    rows += [request_row(T0 + 3600 + i * 0.5, "192.0.2.66", 404, path=f"/wp-{i}.php",
                         ua="Mozilla/5.0 zgrab") for i in range(400)]
    assert build(make_dataset(rows)).incidents == []


def test_one_upstream_of_two_down_is_partial(traffic: Traffic) -> None:
    bad_users = {f"198.51.0.{i}" for i in range(1, 120)}

    def fail(ts: float, user: str) -> bool:
        return T0 + 3600 <= ts < T0 + 4800 and user in bad_users

    events = _refused("10.0.1.12:80")
    inc = build(make_dataset(traffic(fail=fail), events)).incidents[0]
    assert inc.causes[0].kind == "upstream_partial"
    assert "10.0.1.12:80" in inc.causes[0].summary


def test_lone_nginx_down_users_estimated_from_before(traffic: Traffic) -> None:
    gap = (T0 + 3600, T0 + 4200)

    def silent(ts: float, user: str) -> bool:
        return gap[0] <= ts < gap[1]

    rows = traffic(drop=silent)  # one edge host, nothing logged while it was down
    events = [event_row(gap[0], "shutdown", "lb-1", "signal 3 (SIGQUIT) received",
                        severity="info"),
              event_row(gap[1], "start_workers", "lb-1", "start worker processes",
                        severity="info", line=2)]
    inc = build(make_dataset(rows, events)).incidents[0]
    assert inc.affected_hosts == ["lb-1"]
    assert abs(inc.start - gap[0]) < 10 and abs(inc.end - gap[1]) < 10
    assert inc.impact.users_estimated > 0
    assert inc.impact.users_pct > 95
    assert inc.causes[0].kind == "nginx_unavailable"
    assert inc.impact.requests_lost_estimate == pytest.approx(400, abs=40)


def _timed(rows: list[dict[str, Any]], slow: Callable[[float], bool], seed: int = 3
           ) -> list[dict[str, Any]]:
    """Give every row a $request_time: ~20-80 ms, or 2-9 s where ``slow`` says so."""
    rnd = random.Random(seed)
    for r in rows:
        r["request_time"] = (2 + 7 * rnd.random()) if slow(r["ts"]) else 0.02 + 0.06 * rnd.random()
    return rows


def test_latency_alone_is_an_incident(traffic: Traffic) -> None:
    """Responses 50x slower for half an hour, nothing failing: a latency window."""
    lo, hi = T0 + 60 * 60, T0 + 90 * 60

    rows = _timed(traffic(), lambda ts: lo <= ts < hi)
    a = build(make_dataset(rows))
    assert len(a.incidents) == 1
    inc = a.incidents[0]
    assert inc.signals == ["latency"]
    assert abs(inc.start - lo) <= 60 and abs(inc.end - hi) <= 60
    assert inc.impact.requests_failed == 0
    # Only the total time is logged: the logs cannot say where the time went.
    assert inc.causes[0].kind == "unknown" and "slowed down" in inc.causes[0].summary


def test_latency_alone_counts_the_users_it_slowed(traffic: Traffic) -> None:
    """Nothing fails, a third of the users wait seconds: they are the users affected, the
    slow requests are counted, and the bar is the detector's (3x the usual p95)."""
    lo, hi = T0 + 60 * 60, T0 + 90 * 60
    rows = traffic()
    rnd = random.Random(5)
    for r in rows:
        slow = lo <= r["ts"] < hi and int(r["client"].rsplit(".", 1)[1]) % 3 == 0
        r["request_time"] = (2 + 7 * rnd.random()) if slow else 0.02 + 0.06 * rnd.random()
    inc = build(make_dataset(rows)).incidents[0]
    imp = inc.impact
    began = [(r, r["ts"] - r["request_time"]) for r in rows]
    window = [r for r, b in began if r["ts"] >= inc.start and b <= inc.end]
    slowed = {r["client"] for r in window if r["request_time"] > 1.0}
    assert inc.signals == ["latency"] and imp.requests_failed == 0
    assert imp.users_affected == len(slowed) > 0
    assert imp.users_total == len({r["client"] for r in window})
    assert 25 < imp.users_pct < 45
    assert imp.requests_slow == sum(r["request_time"] > 1.0 for r in window)
    assert imp.slow_over_s is not None and 0.5 < imp.slow_over_s < 1.0
    assert imp.users_affected_low == imp.users_affected_high == imp.users_affected


def test_a_slow_incident_beside_a_failing_one_is_reported_as_slow(traffic: Traffic) -> None:
    """Failures first, slowness an hour later: each incident's impact is told in its own
    terms, in the other-incidents lines of the Markdown and the HTML as well."""
    from timeline.report.context import build_context
    from timeline.report.html import to_html
    from timeline.report.markdown import render

    def fail(ts: float, user: str) -> bool:
        return T0 + 1800 <= ts < T0 + 2400

    rows = _timed(traffic(fail=fail), lambda ts: T0 + 5400 <= ts < T0 + 6600)
    a = build(make_dataset(rows))
    failing, slow = a.incidents
    assert failing.impact.requests_failed > 0 and failing.impact.slow_over_s is None
    assert slow.signals == ["latency"] and slow.impact.requests_failed == 0
    assert slow.impact.requests_slow > 0 and slow.impact.slow_over_s is not None
    line = (f"{slow.impact.requests_slow} requests slower than "
            f"{slow.impact.slow_over_s} s; leading cause")
    assert line in render(build_context(a), "default")
    assert line in to_html(a)


@pytest.mark.parametrize("slow_hosts", [("web-2",), ("web-1", "web-2")])
def test_the_host_behind_the_edge_that_slowed_is_named(traffic: Traffic,
                                                       slow_hosts: tuple[str, ...]) -> None:
    """lb-1 over web-1 and web-2, each logging its own $request_time. When only web-2's
    requests slow down, its own log shows it and web-1's does not: the cause names web-2.
    When both slow (a shared dependency), no one host is named, both are listed."""
    lo, hi = T0 + 60 * 60, T0 + 90 * 60
    rows = []
    rnd = random.Random(11)
    for i, r in enumerate(traffic(minutes=150)):
        web = ("web-1", "web-2")[i % 2]
        slow = lo <= r["ts"] < hi and web in slow_hosts
        took = (2 + 3 * rnd.random()) if slow else 0.02 + 0.06 * rnd.random()
        back = request_row(r["ts"] - 0.001, "10.0.0.10", r["status"], web, xff=r["client"],
                           path=r["path"])
        back["request_time"] = took
        r["request_time"] = took + 0.001
        r["upstream_time"] = took
        rows += [r, back]
    inc = build(make_dataset(rows)).incidents[0]
    cause = inc.causes[0]
    assert inc.signals == ["latency"] and cause.kind == "upstream_timeout"
    assert {h.host: h.slowed for h in inc.impact.latency_behind} == {
        "web-1": "web-1" in slow_hosts, "web-2": True}
    if slow_hosts == ("web-2",):
        assert cause.host == "web-2"
        assert "web-2's own p95" in cause.summary and "web-1 kept its usual" in cause.summary
    else:
        assert cause.host == ""
        assert "web-1's own p95" in cause.summary and "web-2's own p95" in cause.summary


def test_slow_backends_are_the_latency_cause(traffic: Traffic) -> None:
    lo, hi = T0 + 60 * 60, T0 + 90 * 60
    rows = _timed(traffic(), lambda ts: lo <= ts < hi)
    for r in rows:
        r["upstream_time"] = r["request_time"] - 0.005
    a = build(make_dataset(rows))
    assert [i.signals for i in a.incidents] == [["latency"]]
    cause = a.incidents[0].causes[0]
    assert cause.kind == "upstream_timeout" and "backends' own time" in cause.summary


def test_normal_upstream_latency_is_ruled_out(traffic: Traffic) -> None:
    start, end = T0 + 60 * 60, T0 + 80 * 60

    def fail(ts: float, user: str) -> bool:
        return start <= ts <= end and user.endswith("7")

    rows = _timed(traffic(fail=fail), lambda ts: False)
    for r in rows:
        r["upstream_time"] = r["request_time"] - 0.005
    a = build(make_dataset(rows))
    assert len(a.incidents) == 1
    assert any(t.startswith("Upstream latency was normal: p95")
               for t in a.incidents[0].ruled_out)


def test_usual_latency_noise_is_not_an_incident(traffic: Traffic) -> None:
    """Latency that varies within its usual range, and a single slow minute, are quiet."""
    rows = _timed(traffic(), lambda ts: T0 + 30 * 60 <= ts < T0 + 31 * 60)
    assert build(make_dataset(rows)).incidents == []
    rows = _timed(traffic(), lambda ts: False)
    assert build(make_dataset(rows)).incidents == []


@pytest.mark.parametrize(("minutes", "incidents"), [(2, 0), (4, 0), (5, 1)])
def test_latency_alone_must_last_five_minutes(traffic: Traffic, minutes: int,
                                              incidents: int) -> None:
    """Slow responses with nothing failing: a few slow minutes are routine, five are an
    incident (docs/method.md, "Latency as a signal")."""
    lo = T0 + 60 * 60
    rows = _timed(traffic(), lambda ts: lo <= ts < lo + minutes * 60)
    found = build(make_dataset(rows)).incidents
    assert len(found) == incidents
    if found:
        assert found[0].signals == ["latency"]
        assert abs(found[0].start - lo) <= 60 and abs(found[0].end - (lo + 300)) <= 60


def test_latency_quantile_from_buckets() -> None:
    from timeline.aggregate import LATENCY_EDGES
    from timeline.detect import latency_quantile

    values = np.array([0.01] * 90 + [3.0] * 10)
    bucket = np.searchsorted(LATENCY_EDGES, values, side="right") - 1
    hist = np.zeros((2, len(LATENCY_EDGES)), dtype=np.int64)
    np.add.at(hist[0], bucket, 1)
    p50, p95 = latency_quantile(hist, 0.5), latency_quantile(hist, 0.95)
    # Upper edges of the buckets holding the quantiles: within one 25% step of the truth.
    assert 0.01 < p50[0] <= 0.0125 and 3.0 < p95[0] <= 3.75
    assert np.isnan(p50[1])


@pytest.mark.parametrize("minutes", [2, 3, 4])
def test_inputs_shorter_than_the_rolling_test(traffic: Traffic, minutes: int) -> None:
    """A few minutes of logs (fewer bins than the rolling sum spans) are analysed, not a
    traceback; failing all along, they are one incident."""
    rows = traffic(minutes=minutes, fail=lambda ts, user: user.endswith(("1", "2", "3")))
    a = build(make_dataset(rows))
    assert [i.signals for i in a.incidents] == [["failure_ratio"]]
    inc = a.incidents[0]
    failing = [r for r in rows if r["status"] == 502]
    assert (inc.start, inc.end) == (min(r["ts"] for r in failing), max(r["ts"] for r in failing))
    assert inc.impact.requests_failed == len(failing)


def test_users_giving_up_is_an_incident(traffic: Traffic) -> None:
    """A stalled backend whose users give up before any Nginx timeout: only 499s in the
    access log. They surge, so they are the incident; a few 499s outside it are not."""
    lo, hi = T0 + 60 * 60, T0 + 85 * 60
    rows = traffic()
    stuck = ("1", "3", "5", "7")  # the users whose requests land on the stalled backend
    for r in rows:
        if lo <= r["ts"] <= hi and r["status"] == 200 and r["client"].endswith(stuck):
            r["status"] = 499
    for m in range(0, 180, 30):  # the usual trickle of users who navigate away
        rows.append(request_row(T0 + m * 60 + 7, "198.51.0.99", 499))
    gave_up = [r for r in rows if r["status"] == 499 and lo <= r["ts"] <= hi]
    a = build(make_dataset(rows))
    assert len(a.incidents) == 1
    inc = a.incidents[0]
    assert inc.signals == ["client_errors"] and inc.impact.failing_statuses == [499]
    assert abs(inc.start - lo) <= 60 and abs(inc.end - hi) <= 60
    assert inc.impact.users_affected == len({r["client"] for r in gave_up})
    assert "requests start failing with 499" in inc.timeline[0].text
