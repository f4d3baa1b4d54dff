"""Performance cliffs (issue 14, group 9): the costs that grew faster than the input, checked
by what they compute (speed itself is measured by benchmarks/cliffs.py, never timed here)."""

from __future__ import annotations

import random
from typing import Any, cast

import pandas as pd

import timeline
from tests.conftest import T0, event_row, make_dataset, request_row
from timeline.ingest import _events_frame
from timeline.model import Incident
from timeline.narrate import MAX_ALERTS, MAX_ERROR_GROUPS, _error_groups


def _reference(events: pd.DataFrame, inc: Incident) -> list[tuple[str, str, str, int, float]]:
    """The per-template definition, spelled out the slow way."""
    ev = events[events["parser"] == "nginx_error"]
    inside = (ev["ts"] >= inc.start - 60) & (ev["ts"] <= inc.end + 60)
    dur = max(inc.end - inc.start + 120, 60.0)
    span = max(float(ev["ts"].max() - ev["ts"].min()), dur)
    out = []
    for (host, kind, message), g in ev[inside].groupby(["host", "kind", "message"], sort=True):
        n_in = int(g["count"].sum())
        same = (ev["host"] == host) & (ev["kind"] == kind) & (ev["message"] == message)
        n_out = int(ev.loc[same & ~inside, "count"].sum())
        if (n_in >= 3 or kind == "worker_crash") and n_in > 3 * n_out * dur / max(span - dur, 1):
            out.append((str(host), str(kind), str(message), n_in, float(g["ts"].iloc[0])))
    out.sort(key=lambda r: (-r[3], r[4]))
    return out[:MAX_ERROR_GROUPS]


def test_error_groups_with_many_distinct_messages_match_the_definition() -> None:
    rnd = random.Random(7)
    inc = Incident(start=T0 + 3600, end=T0 + 5400, signals=[])
    rows: list[dict[str, Any]] = []
    for i in range(3000):
        message = f"upstream sent invalid header x-{i % 700}"
        host = f"web-{i % 3}"
        kind = "worker_crash" if i % 97 == 0 else "upstream_error"
        ts = T0 + rnd.uniform(0, 7200) if i % 5 else T0 + 3600 + rnd.uniform(0, 1800)
        rows.append(event_row(ts, kind, host, message, line=i + 1))
    events = _events_frame(cast(Any, rows))
    got = [(g.host, g.kind, g.message, g.count, g.first_ts) for g in _error_groups(events, inc)]
    assert got == _reference(events, inc)
    assert got  # the case holds unusual groups at all


def test_a_flood_of_alerts_is_counted_not_listed() -> None:
    """55,783 alerts took 265 s: every one was a timeline line, a chart mark, an HTML row."""
    rows = [request_row(T0 + i, f"10.0.0.{i % 50}", 502 if 1800 <= i < 3600 else 200)
            for i in range(0, 5400, 2)]
    alerts = [event_row(T0 + 1800 + i * 0.5, "alert", "lb-1", f"Flood{i}", parser="alertmanager",
                        attrs={"alertname": f"Flood{i}", "status": "firing"}, line=i + 1,
                        source_file="alerts.jsonl")
              for i in range(MAX_ALERTS + 250)]
    analysis = timeline.build(make_dataset(rows, alerts))
    inc = analysis.incidents[0]
    assert len(inc.alerts) == MAX_ALERTS and inc.alerts_more == 250
    firing = [e for e in inc.timeline if e.kind == "alert_firing"]
    assert len(firing) == MAX_ALERTS + 1
    assert any("250 more related alerts" in e.text for e in firing)
    assert [a["attrs"]["alertname"] for a in inc.alerts][:2] == ["Flood0", "Flood1"]


def test_iso_rounds_as_pandas_does() -> None:
    """The JSON writer's times without a Timestamp each: the same text as pandas gives."""
    from timeline.report.json_writer import iso

    rnd = random.Random(3)
    values = [rnd.uniform(-1e9, 4e9) for _ in range(20000)]
    values += [T0 + k / 1000 for k in range(2000)] + [T0 + k / 1e6 for k in range(2000)]
    values += [0.0, -0.0005, T0 + 0.0005, T0 + 0.9995, T0 + 0.0009999]
    for v in values:
        t = pd.Timestamp(v, unit="s", tz="UTC")
        want = (t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
                if t.microsecond else t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert iso(v) == want, v
    assert iso(None) is None and iso(float("nan")) is None
