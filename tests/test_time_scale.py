"""The scale of the analysis follows where the traffic is (issue 14, group 1): a stray
timestamp does not widen the bins, and a long input still finds a short outage."""

from __future__ import annotations

import calendar
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import timeline
from parsers.base import REQUEST_COLUMNS
from timeline.aggregate import Aggregate, Partial
from timeline.bins import SEGMENT_BINS, dense_span, segments
from timeline.cli import app
from timeline.ingest import Dataset, SourceReport, _events_frame, _requests_frame

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
runner = CliRunner()


@pytest.mark.parametrize("stamp", ["20/Mar/2024:12:00:00 +0000", "01/Jan/1970:00:00:00 +0000",
                                   "31/Dec/2099:23:59:59 +0000"])
def test_a_stray_timestamp_does_not_hide_the_seed_outage(tmp_path: Path, stamp: str) -> None:
    """The issue's case: one line dated a year later (or 1970, 2099) appended to web-1's log
    made the bins a day wide and the seed outage "no incident found"."""
    d = tmp_path / "d"
    shutil.copytree(SEED, d)
    log = d / "web-1" / "access.log"
    lines = log.read_bytes().count(b"\n")
    with log.open("a") as f:
        f.write(f'10.9.9.9 - - [{stamp}] "GET / HTTP/1.1" 200 1 "-" "x" "-"\n')
    out = tmp_path / "o"
    res = runner.invoke(app, ["build", str(d), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert ("incident 1: 2023-03-20 12:30:00 UTC to 2023-03-20 14:14:54 UTC, 15.0% of users"
            in res.output), res.output
    doc = json.loads((out / "timeline.json").read_text())
    assert doc["incidents"][0]["start"].startswith("2023-03-20T12:30:00")
    md = (out / "postmortem.md").read_text()
    # Reported, with the line that holds it, and counted.
    assert "1 request(s) dated far from the rest of the traffic" in md
    assert f"web-1/access.log:{lines + 1}`" in md
    assert "1-minute bins" in md


def _agg(minutes: list[tuple[int, int]]) -> Aggregate:
    """An aggregate with ``n`` requests in each (minute, n)."""
    p = Partial()
    ts = np.concatenate([m * 60 + np.arange(n) * (60 / n) for m, n in minutes])
    p.add_chunk({"ts": ts, "status": np.full(len(ts), 200), "user_agent": [b"x"] * len(ts),
                 "forwarded": np.zeros(len(ts), dtype=bool),
                 "line": np.arange(1, len(ts) + 1)})
    return Aggregate.from_partials([(0, "lb-1", p)])


def test_dense_span_keeps_a_quiet_weekend_and_drops_a_stray() -> None:
    day = 1440
    # Friday and Monday with a silent weekend between: one stretch of traffic, kept whole.
    week = [(m, 5) for m in range(0, day)] + [(m, 5) for m in range(3 * day, 4 * day)]
    span, out = dense_span(_agg(week))
    assert out.requests == 0
    assert span is not None and span[1] - span[0] > 3 * 86400
    # The same plus one request a year later, and one in 1970.
    start = 28_000_000  # minutes: 2023
    shifted = [(start + m, n) for m, n in week]
    span, out = dense_span(_agg([(0, 1), *shifted, (start + 365 * day, 1)]))
    assert out.requests == 2
    assert span is not None and span[0] >= start * 60 and span[1] < (start + 5 * day) * 60
    assert [line for _, _, line in out.examples] == [1, len(week) * 5 + 2]


def test_segments_tile_the_span_and_own_each_start_once() -> None:
    span = (0.0, 30 * 86400.0)
    segs = segments(span)
    assert segs[0][0] == 0 and segs[-1][1] == span[1]
    for (_, hi, _, own_hi), (lo, _, own_lo, _) in zip(segs, segs[1:], strict=False):
        assert lo < hi and own_hi == own_lo  # overlapping, and the owned parts tile
    assert all(hi - lo <= SEGMENT_BINS * 60 for lo, hi, _, _ in segs)


T0 = calendar.timegm((2022, 1, 1, 0, 0, 0))
PER_MIN = 3


def _times(lo_min: int, hi_min: int, bad: list[tuple[float, float]]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, statuses and line numbers of the requests of minutes ``lo_min..hi_min``:
    PER_MIN a minute, 502 for every request in the ``bad`` stretches."""
    m = np.repeat(np.arange(lo_min, hi_min, dtype=np.int64), PER_MIN)
    j = np.tile(np.arange(PER_MIN), hi_min - lo_min)
    ts = m * 60.0 + (j + 0.5) * 60 / PER_MIN
    status = np.full(len(ts), 200)
    for lo, hi in bad:
        status[(ts >= lo) & (ts < hi)] = 502
    return ts, status, (m - T0 // 60) * PER_MIN + j + 1


def _rows(lo_min: int, hi_min: int, bad: list[tuple[float, float]]) -> pd.DataFrame:
    """Two years of one edge's traffic from 300 clients (:func:`_times`), as rows: generated,
    the same every time, for any stretch."""
    ts, status, line = _times(lo_min, hi_min, bad)
    seq = line - 1
    clients = np.array([f"10.1.{i // 100}.{i % 100}" for i in range(300)])
    df = pd.DataFrame({"ts": ts, "client": clients[seq % 300], "status": status,
                       "bytes_sent": 100, "method": "GET", "path": "/", "protocol": "HTTP/1.1",
                       "user_agent": "Mozilla/5.0", "forwarded_for": "",
                       "request_time": np.nan, "upstream_time": np.nan, "line": line,
                       "host": "lb-1", "source": 0})
    for c in REQUEST_COLUMNS:
        if c not in df:
            df[c] = ""
    return df


def _two_years(bad: list[tuple[float, float]]) -> Dataset:
    end_min = T0 // 60 + 2 * 365 * 1440
    p = Partial()
    for lo in range(T0 // 60, end_min, 60 * 1440):
        ts, status, line = _times(lo, min(lo + 60 * 1440, end_min), bad)
        p.add_chunk({"ts": ts, "status": status, "user_agent": [b"Mozilla/5.0"] * len(ts),
                     "forwarded": np.zeros(len(ts), dtype=bool), "line": line})

    def load(lo: float, hi: float) -> pd.DataFrame:
        r = _rows(int(lo // 60), int(hi // 60) + 1, bad)
        return _requests_frame([r[(r["ts"] >= lo) & (r["ts"] <= hi)]])

    src = SourceReport(path="lb-1/access.log", format="nginx_access", host="lb-1",
                       lines=(end_min - T0 // 60) * PER_MIN)
    return Dataset(Aggregate.from_partials([(0, "lb-1", p)]), _events_frame([]), [src], load)


def test_two_years_of_logs_still_find_short_total_outages() -> None:
    """The issue's case: a two-year log holding a 3-hour total outage (every request 502)
    gave "no incident found"; a 10-minute one, months later in the same log, is found too."""
    long_start = calendar.timegm((2023, 5, 17, 9, 0, 0))
    short_start = calendar.timegm((2023, 9, 3, 21, 17, 0))
    bad = [(float(long_start), float(long_start + 180 * 60)),
           (float(short_start), float(short_start + 10 * 60))]
    analysis = timeline.build(_two_years(bad))
    assert analysis.bin_s >= 3600  # the chart's bins are coarse ...
    found = sorted((i.start, i.end) for i in analysis.incidents)
    assert len(found) == 2, found
    # ... but both windows are found, and settled to the request.
    for (start, end), (lo, hi) in zip(found, bad, strict=True):
        assert abs(start - lo) <= 60 and abs(end - hi) <= 60, (start, end, lo, hi)
    assert any("scanned in 1-minute bins" in m for m in analysis.method)
