"""The chart's data, its time axis and its SVG: what is drawn, not pixels."""

from __future__ import annotations

import calendar
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import timeline
from tests.conftest import T0, make_dataset
from timeline.report.chart import OKABE_ITO, SERIES, chart_data, time_ticks
from timeline.report.clock import Clock
from timeline.report.svg import to_svg

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
T = calendar.timegm((2023, 3, 20, 12, 3, 0, 0, 0, 0))
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def seed() -> timeline.Analysis:
    return timeline.build(timeline.read([str(SEED)]))


@pytest.mark.parametrize(("span_s", "step_s"), [
    (600, 120), (3600, 600), (6 * 3600, 3600), (86400, 10800), (3 * 86400, 43200),
    (7 * 86400, 86400)])
def test_ticks_read_well_from_ten_minutes_to_a_week(span_s: int, step_s: int) -> None:
    ticks = time_ticks(T, T + span_s)
    assert 3 <= len(ticks) <= 9
    times = [t for t, _ in ticks]
    assert all(b - a == step_s for a, b in zip(times, times[1:], strict=False))
    assert all(t % min(step_s, 3600) == 0 for t in times)  # round times
    labels = [label for _, label in ticks]
    if span_s <= 6 * 3600:
        assert all(re.fullmatch(r"\d\d:\d\d", lb) for lb in labels)
    elif step_s < 86400:  # over days: the date where the day changes
        assert any(re.fullmatch(r"\d\d [A-Z][a-z]{2} 00:00", lb) for lb in labels)
    else:
        assert all(re.fullmatch(r"\d\d [A-Z][a-z]{2}", lb) for lb in labels)


def test_ticks_fall_on_round_local_times() -> None:
    ticks = time_ticks(T, T + 6 * 3600, Clock("Asia/Kolkata"))  # +05:30
    assert [lb for _, lb in ticks][:2] == ["18:00", "19:00"]
    days = time_ticks(T, T + 7 * 86400, Clock("America/New_York"))
    assert all(lb[:2].isdigit() for _, lb in days)
    assert all((t - 4 * 3600) % 86400 == 0 for t, _ in days)  # local midnight, EDT


def test_seed_chart_data(seed: timeline.Analysis) -> None:
    data = chart_data(seed)
    assert len(data.x) == 166 and data.bin_s == 60
    assert [a.name for a in data.alerts] == ["NginxHighErrorRate"]
    assert [m.label for m in data.actions] == ["web-3 reload", "web-3 reload"]
    assert [m.source.rsplit("/", 2)[-2:] for m in data.actions] == [
        ["web-3", "error.log:9"], ["web-3", "error.log:28"]]
    [burst] = data.bursts
    assert (burst.host, burst.kind, burst.count) == ("lb-1", "upstream_refused", 830)
    assert burst.source.endswith("lb-1/error.log:8")
    # Several hosts involved: one panel each, the edge first, then the host that failed.
    assert [p.name for p in data.panels][:2] == ["lb-1", "web-3"]
    web3 = data.panels[1]
    inc = seed.incidents[0]
    inside = (data.x >= inc.start + 60) & (data.x < inc.end - 60)
    assert web3.total[inside].sum() == 0 and web3.total[~inside].sum() > 0
    lb1 = data.panels[0]
    assert lb1.failed.sum() == int(seed.bins["failed"].sum())


def test_palette_is_okabe_ito() -> None:
    palette = set(OKABE_ITO.values())
    assert {colour for _, colour, _ in SERIES} <= palette


def test_svg_is_valid_xml_with_titles(seed: timeline.Analysis) -> None:
    text = to_svg(chart_data(seed))
    root = ET.fromstring(text.split("\n", 1)[1])
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    bins = [t for t in titles if ", 1 min bin: " in t]
    assert len(bins) == 166
    assert any(t.startswith("2023-03-20 12:54:00 UTC, 1 min bin: 50 requests") and
               "30.0% failed" in t for t in bins)
    assert any(t.startswith("Alert NginxHighErrorRate firing from 12:30:52 UTC") for t in titles)
    assert any(t.startswith("Incident window: 12:30:00 UTC to 14:14:54 UTC") for t in titles)
    assert "time (UTC)" in text
    # Byte-identical when drawn again.
    assert to_svg(chart_data(seed)) == text


def test_svg_escapes_names(seed: timeline.Analysis) -> None:
    data = chart_data(seed)
    bad = "<script>x</script>&\"'"
    data = replace(data, panels=[replace(data.panels[0], name=bad), *data.panels[1:]])
    text = to_svg(data)
    assert "<script>" not in text
    assert "&lt;script&gt;x&lt;/script&gt;&amp;&quot;&#x27;" in text
    ET.fromstring(text.split("\n", 1)[1])


def test_a_panel_per_upstream_when_several(traffic: Any) -> None:
    start, end = T0 + 60 * 60, T0 + 90 * 60
    rows = traffic(minutes=150, fail=lambda ts, user: start <= ts < end and hash(user) % 2 == 0)
    for r in rows:
        # Two backends, alternating; the failures all come from the second one.
        r["upstream_addr"] = "10.0.1.13:80" if r["status"] == 502 or int(r["ts"]) % 2 else \
            "10.0.1.12:80"
    analysis = timeline.build(make_dataset(rows))
    data = chart_data(analysis)
    ups = [p for p in data.panels if p.kind == "upstream"]
    assert sorted(p.name for p in ups) == ["10.0.1.12:80", "10.0.1.13:80"]
    bad = next(p for p in ups if p.name == "10.0.1.13:80")
    good = next(p for p in ups if p.name == "10.0.1.12:80")
    inside = (data.x >= start) & (data.x < end - 60)
    assert good.failed.sum() == 0 and good.total[inside].sum() > 0
    assert bad.failed.sum() == analysis.incidents[0].impact.requests_failed
    assert (bad.ratio[inside] > 0.3).all()
    # One upstream alone gets no panel.
    for r in rows:
        r["upstream_addr"] = "10.0.1.12:80"
    assert not [p for p in chart_data(timeline.build(make_dataset(rows))).panels
                if p.kind == "upstream"]
    text = to_svg(data)
    assert "upstream 10.0.1.13:80: " in text
