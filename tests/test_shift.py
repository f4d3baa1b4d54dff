"""The "what changed" accumulator (timeline/shift.py) on small synthetic chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from timeline.shift import (
    Bounds,
    ShiftPartial,
    benjamini_hochberg,
    choose_baseline,
    finish,
    fisher_greater,
    shift_chunk,
)


def _rows(n: int, t0: float, **cols: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "ts": t0 + np.arange(n, dtype=float), "client": "198.51.100.7", "remote_user": "-",
        "method": "GET", "path": "/", "protocol": "HTTP/1.1", "status": 200,
        "bytes_sent": 512, "referer": "-", "user_agent": "Mozilla/5.0", "forwarded_for": "",
        "request_time": np.nan, "upstream_addr": "", "upstream_status": "",
        "upstream_time": np.nan, "vhost": "", "line": np.arange(n) + 1, "host": "lb",
        "source": 0,
    }
    base.update(cols)
    return pd.DataFrame(base)


def _where(src: int, line: int) -> str:
    return f"f{src}:{line}"


def _route_upstream_rows() -> tuple[pd.DataFrame, Bounds]:
    """Three routes over three upstreams, one route on one upstream failing in the
    window: the route alone and the upstream alone explain a third of it each."""
    parts = []
    for period, t0 in (("base", 0.0), ("win", 10000.0)):
        for i, path in enumerate(("/a", "/b", "/c")):
            for j, up in enumerate(("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")):
                fail = period == "win" and path == "/b" and up == "10.0.0.2:80"
                parts.append(_rows(60, t0 + (i * 3 + j) * 60, path=path, upstream_addr=up,
                                   status=502 if fail else 200,
                                   line=np.arange(60) + 1 + (i * 3 + j) * 60
                                   + (10000 if period == "win" else 0)))
    return pd.concat(parts, ignore_index=True), Bounds((10000.0, 10600.0), (0.0, 600.0),
                                                       "before")


def test_pair_where_neither_part_explains_it_is_found_first() -> None:
    rows, bounds = _route_upstream_rows()
    table = finish(shift_chunk(rows, bounds), bounds, _where)
    top = table.changes[0]
    assert (top.dimension, top.value) == ("route+upstream", "/b + 10.0.0.2:80")
    assert top.window_count == 60 and top.window_share == 1.0
    assert top.failure_rate == 1.0 and top.q_value < 0.05
    assert top.evidence == "f0:10241"  # the first failing row of that pair
    # The single route and upstream rise too, but less: each is a third failing.
    singles = {(c.dimension, c.value) for c in table.changes[1:]}
    assert ("route", "/b") in singles and ("upstream", "10.0.0.2:80") in singles
    assert all(c.dimension != "route+host" for c in table.changes)


def test_chunks_merge_to_the_same_table() -> None:
    rows, bounds = _route_upstream_rows()
    whole = finish(shift_chunk(rows, bounds), bounds, _where)
    shuffled = rows.sample(frac=1.0, random_state=3).reset_index(drop=True)
    part = ShiftPartial()
    for lo in range(0, len(shuffled), 97):
        part.merge(shift_chunk(shuffled.iloc[lo:lo + 97], bounds))
    assert finish(part, bounds, _where) == whole


def test_client_network_flood_ranks_first() -> None:
    base = _rows(600, 0.0, client="192.0.2.10")
    normal = _rows(600, 1000.0, client="192.0.2.10", line=np.arange(600) + 601)
    flood = _rows(900, 1000.0, client=[f"203.0.113.{i % 200}" for i in range(900)],
                  status=[429 if i % 3 else 503 for i in range(900)],
                  user_agent="python-requests/2.31", line=np.arange(900) + 1201)
    rows = pd.concat([base, normal, flood], ignore_index=True)
    bounds = Bounds((1000.0, 1900.0), (0.0, 900.0), "before", (429, 503))
    table = finish(shift_chunk(rows, bounds), bounds, _where)
    assert (table.changes[0].dimension, table.changes[0].value) == ("client_net",
                                                                     "203.0.113.0/24")
    assert table.changes[0].window_count == 900
    assert table.changes[0].baseline_share == 0.0 and table.changes[0].q_value < 1e-6


def test_vanished_host_is_a_dip_with_its_last_line() -> None:
    a = _rows(100, 0.0, host="web-1", line=np.arange(100) + 1)
    b = _rows(100, 0.0, host="web-2", source=1, line=np.arange(100) + 1)
    c = _rows(100, 200.0, host="web-1", line=np.arange(100) + 101)
    table = finish(shift_chunk(pd.concat([a, b, c]), Bounds((200.0, 300.0), (0.0, 100.0),
                                                               "before")), Bounds(
        (200.0, 300.0), (0.0, 100.0), "before"), _where)
    dips = [ch for ch in table.changes if ch.direction == "dip"]
    assert (dips[0].dimension, dips[0].value, dips[0].window_count) == ("host", "web-2", 0)
    assert dips[0].evidence == "f1:100"


def test_fisher_and_bh_against_known_values() -> None:
    # Fisher's tea-tasting table [[3, 1], [1, 3]]: one-sided p = 17/70.
    assert abs(fisher_greater(3, 4, 4, 8) - 17 / 70) < 1e-12
    assert fisher_greater(0, 4, 4, 8) == 1.0
    assert abs(fisher_greater(1, 4, 4, 8) - (1 - 1 / 70)) < 1e-12
    # Sorted 0.01, 0.03, 0.04, 0.5: p * m / rank, then the running minimum from the top.
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    assert np.allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def test_baseline_kind() -> None:
    assert choose_baseline(10 * 86400.0, 10 * 86400.0 + 600, 0.0)[0] == "week"
    assert choose_baseline(10 * 86400.0, 10 * 86400.0 + 600, 9 * 86400.0 - 10)[0] == "day"
    assert choose_baseline(1000.0, 1600.0, 700.0) == ("before", 700.0, 1000.0)


def test_rises_count_the_edge_once_dips_every_host() -> None:
    """A backend's failures relayed by the proxy count once, at the edge; a backend that
    went silent still dips."""
    base = pd.concat([
        _rows(100, 0.0, host="lb", upstream_addr="10.0.0.2:80", line=np.arange(100) + 1),
        _rows(100, 0.0, host="web-2", source=1, forwarded_for="198.51.100.7",
              line=np.arange(100) + 1),
        _rows(100, 0.0, host="web-3", source=2, line=np.arange(100) + 1)])
    win = pd.concat([
        _rows(100, 200.0, host="lb", upstream_addr="10.0.0.2:80", status=502,
              line=np.arange(100) + 101),
        _rows(100, 200.0, host="web-2", source=1, status=502, line=np.arange(100) + 101)])
    bounds = Bounds((200.0, 300.0), (0.0, 100.0), "before", edge_hosts=("lb",))
    table = finish(shift_chunk(pd.concat([base, win]), bounds), bounds, _where)
    assert (table.window_failing, table.window_total) == (100, 100)
    rises = {(c.dimension, c.value): c for c in table.changes if c.direction == "rise"}
    assert ("host", "web-2") not in rises
    dips = {(c.dimension, c.value) for c in table.changes if c.direction == "dip"}
    assert ("host", "web-3") in dips
