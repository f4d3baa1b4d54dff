"""The incident's edges from what Nginx logs (timeline/edges.py) and the rules of issue #11:
background failures never make the start, a request is logged when it ends, connections
that never became requests are not users, a reload right before a step change is the
cause, and dropped connections give an interval of users."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from parsers import log_format as lf
from tests.conftest import T0, event_row, make_dataset, request_row
from timeline import build
from timeline.edges import (
    Timeout,
    failure_edges,
    incomplete_requests,
    proxy_timeout,
    request_starts,
)
from timeline.nginxconf import NginxConf, parse_time

Traffic = Callable[..., list[dict[str, Any]]]
S = T0 + 60 * 60  # the fault begins an hour in
E = S + 20 * 60


def _row_at(rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """The row a ``file:line`` citation points at (rows numbered from 1 by make_dataset)."""
    line = int(source.rpartition(":")[2])
    return next(r for r in rows if r["line"] == line)


def test_a_background_500_just_before_the_surge_is_not_the_start(traffic: Traffic) -> None:
    rows = traffic(fail=lambda ts, u: S <= ts <= E)
    # The usual trickle of 500s from one endpoint, one 40 s before the first 502.
    for m in range(0, 180, 3):
        rows.append(request_row(T0 + m * 60 + 20, "198.51.7.7", 500, path="/api/export"))
    rows.append(request_row(S - 40, "198.51.7.8", 500, path="/api/export"))
    rows.sort(key=lambda r: r["ts"])
    (inc,) = build(make_dataset(rows)).incidents
    first_502 = min(r["ts"] for r in rows if r["status"] == 502)
    assert inc.start == first_502
    assert inc.impact.failing_statuses == [502]
    # The evidence is the failing request itself, not a neighbour.
    assert inc.start_edge is not None and inc.start_edge.basis == "failure_logged"
    assert _row_at(rows, inc.start_edge.source)["status"] == 502
    start_entry = next(e for e in inc.timeline if e.kind == "start")
    assert start_entry.source == inc.start_edge.source
    end_entry = next(e for e in inc.timeline if e.kind == "end")
    assert _row_at(rows, end_entry.source)["status"] == 502
    peak = next(e for e in inc.timeline if e.kind == "peak")
    assert _row_at(rows, peak.source)["status"] == 502


def _stall(timed: bool, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Steady traffic; from S to E every page request waits ``timeout_s`` and gets 504
    (logged when it ends, with $request_time when ``timed``); static files keep working."""
    rnd = random.Random(5)
    rows = []
    for i in range(180 * 30):
        sent = T0 + i * 2 + rnd.random()
        user = f"198.51.{i % 300 // 250}.{i % 300 % 250 + 1}"
        static = i % 4 == 0
        path = "/static/app.js" if static else f"/products/{i % 50}"
        if S <= sent <= E and not static:
            status, took = 504, timeout_s
        else:
            status, took = 200, 0.05
        row = request_row(sent + took, user, status, path=path)
        row["request_time"] = took if timed else float("nan")
        rows.append(row)
    rows.sort(key=lambda r: r["ts"])
    return rows


def test_a_timed_stall_starts_when_its_first_request_was_sent() -> None:
    rows = _stall(timed=True)
    (inc,) = build(make_dataset(rows)).incidents
    first_sent = min(r["ts"] - r["request_time"] for r in rows if r["status"] == 504)
    assert inc.start == pytest.approx(first_sent)
    assert inc.start_edge is not None and inc.start_edge.basis == "request_start"
    assert abs(inc.start - S) < 5
    assert _row_at(rows, inc.start_edge.source)["status"] == 504


def test_an_untimed_stall_is_placed_by_its_silence_within_the_timeout_bound() -> None:
    rows = _stall(timed=False)
    (inc,) = build(make_dataset(rows)).incidents
    assert inc.start_edge is not None and inc.start_edge.basis == "timeout_assumed"
    assert "sent up to 60 s earlier" in inc.start_edge.note
    # Not a minute late (the first 504 line), and not before the stall.
    assert S - 10 <= inc.start <= S + 10
    assert "$request_time" in next(e.text for e in inc.timeline if e.kind == "start")


def test_a_504_without_request_time_waited_the_configured_timeout() -> None:
    conf = NginxConf(timeouts={"proxy_read_timeout": [(20.0, "nginx.conf:9")],
                               "proxy_connect_timeout": [(5.0, "nginx.conf:8")]})
    timeout = proxy_timeout(conf)
    assert timeout.seconds == 20.0 and "nginx.conf:9" in timeout.origin
    assert proxy_timeout(None).seconds == 60.0
    rows = pd.DataFrame([request_row(T0 + 100, "198.51.0.1", 504, line=1),
                         request_row(T0 + 101, "198.51.0.2", 200, line=2)])
    began, assumed = request_starts(rows, timeout)
    assert began.tolist() == [T0 + 80, T0 + 101] and assumed.tolist() == [True, False]


def test_whole_second_times_are_not_given_false_precision() -> None:
    row = request_row(T0 + 100, "198.51.0.1", 502)
    row["request_time"] = 2.731
    began, _ = request_starts(pd.DataFrame([row]), Timeout(60.0, "default"))
    # $time_local has whole seconds: the request began in [97.269, 98.269); 98 is in it.
    assert began.tolist() == [T0 + 98]


def test_a_stray_failure_far_from_the_rest_is_not_an_edge() -> None:
    rows = [request_row(T0 + t, f"198.51.0.{i % 200 + 1}", 502 if t != 1000 else 503)
            for i, t in enumerate([1000, *range(1200, 1500, 2)])]
    frame = pd.DataFrame(rows)
    frame["source"] = 0
    frame["line"] = np.arange(1, len(rows) + 1)
    got = failure_edges(frame, np.ones(len(rows), dtype=bool), [502, 503], T0, T0 + 2000,
                        Timeout(60.0, "default"), lambda s, n: f"a.log:{n}")
    assert got is not None
    assert got[0].ts == T0 + 1200 and got[0].source == "a.log:2"


def test_requests_in_flight_through_the_window_are_counted() -> None:
    rows = _stall(timed=True)
    (inc,) = build(make_dataset(rows)).incidents
    # Users are those with a request in flight in the window: logged after its start and
    # sent before its end (not only those logged inside it).
    in_flight = {r["client"] for r in rows
                 if r["ts"] >= inc.start and r["ts"] - r["request_time"] <= inc.end}
    logged_inside = {r["client"] for r in rows if inc.start <= r["ts"] <= inc.end}
    assert inc.impact.users_total == len(in_flight) >= len(logged_inside)


def test_connections_that_never_became_requests_are_not_users(traffic: Traffic) -> None:
    rows = traffic()
    # Three slow clients hold connections from S to E: Nginx logs "GET /" (no version)
    # 408 when client_header_timeout expires, and "-" 400 when they are cut.
    for k in range(600):
        r = request_row(S + k * 2, f"203.0.113.{k % 3 + 1}", 408 if k % 2 else 400, path="/")
        r["protocol"] = ""
        if k % 5 == 0:
            r.update(method="", path="-")
        rows.append(r)
    rows.sort(key=lambda r: r["ts"])
    flags = incomplete_requests(pd.DataFrame(rows).assign(source=0))
    assert int(flags.sum()) == 600
    a = build(make_dataset(rows))
    for inc in a.incidents:
        assert inc.impact.incomplete_clients == 3
        assert inc.impact.incomplete_networks[0][:2] == ("203.0.113.0/24", 3)
        assert inc.impact.users_affected == 0
        assert not {408, 400} & set(inc.impact.failing_statuses)


def test_a_400_in_a_log_without_the_http_version_stays_a_request() -> None:
    rows = [request_row(T0 + i, "198.51.0.1", 400) for i in range(3)]
    for r in rows:
        r["protocol"] = ""
    assert not incomplete_requests(pd.DataFrame(rows).assign(source=0)).any()


def test_a_reload_right_before_a_step_to_404_is_the_leading_cause(traffic: Traffic) -> None:
    rows = traffic(minutes=120)
    for r in rows:
        if S <= r["ts"] <= E:
            r["status"] = 403 if r["client"].endswith("7") else 404
    events = [
        event_row(T0 + 5 * 60, "start_workers", "lb-1", "start worker processes",
                  severity="info", line=1),
        event_row(S - 17 * 60, "start_workers", "lb-1", "start worker processes",
                  severity="info", line=2),
        event_row(S - 1, "reload", "lb-1", "signal 1 (SIGHUP) received", severity="info",
                  line=3),
    ]
    events += [event_row(S + k * 5, "file_not_found", "lb-1",
                         'open() "/var/www/html/<path>" failed (2: No such file or directory)',
                         line=10 + k) for k in range(200)]
    (inc,) = build(make_dataset(rows, events)).incidents
    assert inc.causes[0].kind == "config_change"
    assert inc.causes[0].host == "lb-1"
    assert any("file_not_found" in e and "symptom" in e for e in inc.causes[0].evidence)
    flagged = [e for e in inc.timeline if e.flag == "possible trigger"]
    assert [e.kind for e in flagged] == ["reload"]  # not the start 17 minutes before


def test_dropped_connections_give_an_interval_that_holds_the_users(traffic: Traffic) -> None:
    lost: set[str] = set()

    def drop(ts: float, user: str) -> bool:
        if S <= ts <= E and hash(user) % 2:
            lost.add(user)
            return True
        return False

    rows = traffic(drop=drop)
    events = [event_row(S + k * 2, "worker_connections", "lb-1",
                        "<n> worker_connections are not enough", severity="critical",
                        line=k + 1) for k in range(len(lost) * 2)]
    (inc,) = build(make_dataset(rows, events)).incidents
    imp = inc.impact
    assert imp.users_basis == "estimated"
    assert imp.users_affected_low <= imp.users_affected <= imp.users_affected_high
    assert imp.users_affected_low <= len(lost) <= imp.users_affected_high
    assert imp.users_pct_low <= imp.users_pct <= imp.users_pct_high
    assert "dropped" in imp.users_method


def test_counted_users_have_an_interval_of_one_point(traffic: Traffic) -> None:
    (inc,) = build(make_dataset(traffic(fail=lambda ts, u: S <= ts <= E))).incidents
    imp = inc.impact
    assert imp.users_basis == "counted"
    assert imp.users_affected_low == imp.users_affected == imp.users_affected_high


@pytest.mark.parametrize(("text", "seconds"), [("60", 60.0), ("60s", 60.0), ("1m30s", 90.0),
                                               ("500ms", 0.5), ("2h", 7200.0), ("x", None),
                                               ("", None)])
def test_nginx_time_values(text: str, seconds: float | None) -> None:
    assert parse_time(text) == seconds


MAIN_LINE = ('10.0.0.1 - - [20/Mar/2023:12:00:01 +0000] "GET / HTTP/1.1" 200 29 "-" '
             '"Mozilla/5.0" "-"')


@pytest.mark.parametrize(("tail", "wanted"), [
    (" 0.257 127.0.0.1:46475 200 0.257", " $request_time $upstream_addr $upstream_status "
                                         "$upstream_response_time"),
    (" 0.012 0.010", " $request_time $upstream_response_time"),
    (' rt=0.012 uct="0.000" uht="0.010" urt="0.010"', " rt=$request_time"),
    ("", None),
])
def test_timing_fields_after_main_are_recognised(tail: str, wanted: str | None) -> None:
    head = "\n".join([MAIN_LINE + tail] * 5).encode() + b"\n"
    got = lf.guess_timed(head)
    if wanted is None:
        assert got is None
    else:
        assert got is not None and wanted in got
        assert lf.compile_format(got).regex.match(head.split(b"\n")[0]) is not None
