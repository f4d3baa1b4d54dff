"""Issue 16 through build(): a flooding client network, a backend's clock 5 s ahead, the
error log joined to the requests (timeline/shift.py, skew.py, joins.py, explain.py)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd

from tests.conftest import T0, event_row, make_dataset, request_row
from timeline.analyze import build
from timeline.joins import build_index, match_rows
from timeline.model import AnalysisOptions


def _steady(minutes: int, per_min: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    pool = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(400)]
    rows = []
    for m in range(minutes):
        for k in range(per_min):
            # One request in ten from an API client: the flood's agent is no novelty.
            ua = "python-requests/2.28" if k % 10 == 0 else "Mozilla/5.0"
            rows.append(request_row(T0 + m * 60 + k * 60 / per_min + rnd.random(),
                                    rnd.choice(pool), 200, path=rnd.choice(["/", "/a", "/b"]),
                                    ua=ua))
    return rows


def test_a_flooding_network_ranks_first_and_the_cause_is_rate_limited() -> None:
    rows = _steady(180, 40)
    rnd = random.Random(3)
    # From minute 120, for 20 minutes: 150 clients of one /24 send 2,000 requests a
    # minute to a route the users ask for too; the limit answers most with 429, some 503.
    for m in range(120, 140):
        for k in range(2000):
            status = 200 if k % 10 == 0 else (429 if k % 3 else 503)
            rows.append(request_row(T0 + m * 60 + k * 0.03, f"203.0.113.{rnd.randrange(150)}",
                                    status, path="/a", ua="python-requests/2.31"))
    a = build(make_dataset(rows))
    inc = a.incidents[0]
    assert inc.changes is not None
    top = inc.changes.changes[0]
    assert (top.dimension, top.value, top.direction) == ("client_net", "203.0.113.0/24", "rise")
    assert top.window_share > 0.99 and top.q_value < 1e-6
    assert inc.causes[0].kind == "rate_limited"
    assert "203.0.113.0/24" in inc.causes[0].summary


def _proxied(skew: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """lb-1 in front of web-2, whose clock is ``skew`` seconds ahead; web-2 reloads at
    T0 + 7200 (true time) and answers nothing for 20 minutes: lb-1 logs 502s from 1 s
    later."""
    rnd = random.Random(5)
    rows: list[dict[str, Any]] = []
    reload_at = T0 + 7200.0
    for i in range(180 * 30):
        t = T0 + i * 2.0 + rnd.random()
        user = f"198.51.100.{rnd.randrange(1, 250)}"
        path = f"/p/{i}"
        down = reload_at + 1 <= t <= reload_at + 1200
        rows.append(request_row(t, user, 502 if down else 200, "lb-1", path=path))
        if not down:
            rows.append(request_row(t - 0.2 + skew, "10.0.0.1", 200, "web-2", path=path,
                                    xff=user))
    events = [event_row(reload_at + skew, "reload", "web-2",
                        "signal process started", severity="notice", line=9)]
    return rows, events


def test_a_backend_clock_5s_ahead_is_corrected_and_the_order_comes_out_right() -> None:
    rows, events = _proxied(5.0)
    a = build(make_dataset(rows, events))
    (skew,) = a.clock_skew
    assert (skew.host, skew.reference, skew.corrected) == ("web-2", "lb-1", True)
    assert abs(skew.offset_s - 5.0) <= 0.5
    inc = a.incidents[0]
    first = {e.kind: e.ts for e in reversed(inc.timeline)}
    # The reload (true time T) comes before the first failure it caused (T + 1 s), and
    # web-2 serves again only after the end.
    assert abs(first["reload"] - (T0 + 7200.0)) <= 0.5
    assert first["reload"] < first["start"] < first["end"] < first["recovery"]

    kept = build(make_dataset(*_proxied(5.0)), options=AnalysisOptions(skew_correction=False))
    assert kept.clock_skew[0].corrected is False
    late = {e.kind: e.ts for e in reversed(kept.incidents[0].timeline)}
    # As logged: the reload seems to follow the failures it caused.
    assert late["reload"] == T0 + 7205.0 and late["reload"] > late["start"]


def test_clocks_that_agree_are_left_alone() -> None:
    a = build(make_dataset(*_proxied(0.0)))
    assert a.clock_skew[0].offset_s <= 0.0 and not a.clock_skew[0].corrected


def test_error_entries_join_their_request_one_to_one() -> None:
    attrs = {"client": "192.0.2.1", "request": "GET /x HTTP/1.1",
             "upstream": "http://10.0.0.13:8080/x"}
    events = pd.DataFrame([event_row(T0 + 10, "upstream_refused", "lb-1", "connect() failed",
                                     attrs=attrs, line=4)])
    events["source_file"] = "lb-1/error.log"
    index = build_index(events)
    rows = pd.DataFrame([
        request_row(T0 + 10, "192.0.2.1", 502, path="/x"),   # the request
        request_row(T0 + 10, "192.0.2.1", 502, path="/x"),   # the same again: no second claim
        request_row(T0 + 10, "192.0.2.2", 502, path="/x"),   # another client
        request_row(T0 + 30, "192.0.2.1", 502, path="/x"),   # too late
        request_row(T0 + 10, "192.0.2.1", 502, "web-1", path="/x"),  # another host
    ])
    assert match_rows(rows, index).tolist() == [0, -1, -1, -1, -1]
    # A slow request logged when it ended: the entry was written during it.
    slow = pd.DataFrame([request_row(T0 + 40, "192.0.2.1", 504, path="/x")])
    slow["request_time"] = 31.0
    assert match_rows(slow, index).tolist() == [0]
    assert index.peer == ["10.0.0.13:8080"]
    assert np.array_equal(match_rows(rows.iloc[:0], index), np.zeros(0, dtype=np.int64))
