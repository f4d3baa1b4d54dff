"""Key times and durations (timeline.keytimes): the seed's measured values, their evidence,
the JSON shape, the T+ column, and mitigation when the failure ratio falls before the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import timeline
from tests.conftest import T0, event_row, make_dataset, request_row
from timeline.keytimes import measure
from timeline.model import Analysis
from timeline.report.context import build_context, t_plus

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
KEYS = ("impact_start", "detected", "acknowledged", "mitigated", "resolved")
DURATIONS = ("time_to_detect_s", "time_to_acknowledge_s", "time_to_mitigate_s",
             "time_to_resolve_s", "impact_s")


@pytest.fixture(scope="module")
def seed() -> Analysis:
    return timeline.build(timeline.read([str(SEED)]))


def _line(evidence: str) -> str:
    """The text of the line a ``file:line`` evidence cites."""
    path, _, n = evidence.rpartition(":")
    return Path(path).read_text(encoding="utf-8").splitlines()[int(n) - 1]


def test_seed_key_times_are_measured_with_evidence(seed: Analysis) -> None:
    kt = measure(seed, seed.incidents[0])
    iso = timeline.report.json_writer.iso
    assert iso(kt.impact_start.ts) == "2023-03-20T12:30:00Z"
    assert str(iso(kt.detected.ts)).startswith("2023-03-20T12:30:52")
    assert iso(kt.resolved.ts) == "2023-03-20T14:14:54Z"
    assert kt.time_to_detect_s is not None and 52 <= kt.time_to_detect_s <= 53
    # Each known time cites the line that shows it.
    assert "20/Mar/2023:12:30:00" in _line(kt.impact_start.evidence)
    assert " 502 " in _line(kt.impact_start.evidence)
    assert "2023-03-20T12:30:52" in _line(kt.detected.evidence)
    assert "20/Mar/2023:14:14:54" in _line(kt.resolved.evidence)
    # Alertmanager records no acknowledgement: unknown, with the reason, not a guess.
    assert kt.acknowledged.ts is None and "alertmanager" in kt.acknowledged.reason
    assert kt.time_to_acknowledge_s is None
    # The ratio never fell under half its peak before the end: mitigation is the end.
    assert kt.mitigated.ts == kt.resolved.ts and kt.mitigated.basis == "failures_stopped"
    assert kt.impact_s == kt.time_to_resolve_s == seed.incidents[0].duration_s


def test_json_key_times_and_durations_shape(seed: Analysis) -> None:
    inc = json.loads(timeline.to_json(seed))["incidents"][0]
    assert tuple(inc["key_times"]) == KEYS
    assert tuple(inc["durations"]) == DURATIONS
    for name in KEYS:
        k = inc["key_times"][name]
        assert set(k) == {"ts", "evidence", "basis", "note", "reason"}
        if k["ts"] is None:
            assert k["reason"] and k["evidence"] is None and k["basis"] is None
        else:
            assert k["evidence"] and k["basis"] and k["reason"] is None
    assert inc["durations"]["time_to_acknowledge_s"] is None
    assert inc["durations"]["impact_s"] == inc["duration_s"]


def test_t_plus() -> None:
    assert t_plus(100.0, 100.0) == "T+00:00"
    assert t_plus(100.9 + 52, 100.2) == "T+00:52"
    assert t_plus(100.0 + 6294, 100.0) == "T+104:54"
    assert t_plus(95.0, 100.0) == "T-00:05"


def test_timeline_rows_carry_t_plus(seed: Analysis) -> None:
    ctx = build_context(seed)
    assert ctx.timeline[0].t_plus == "T+00:00"
    md = timeline.to_markdown(seed)
    assert "- **2023-03-20 12:30:52 UTC** (T+00:52): Alert NginxHighErrorRate" in md
    assert "| Impact start | 2023-03-20 12:30:00 UTC | T+00:00 |" in md


def _falling(ack: bool, change_at: float | None = None) -> Analysis:
    """An hour quiet; 20 minutes at 40% failed; 20 minutes at 10%; quiet again. A page
    (PagerDuty) fires 3 minutes in and is acknowledged 2 minutes later."""
    rows = []
    for m in range(120):
        rate = 0.4 if 60 <= m < 80 else 0.1 if 80 <= m < 100 else 0.0
        for k in range(50):
            status = 502 if k < rate * 50 else 200
            rows.append(request_row(T0 + m * 60 + k, f"10.0.{k}.{m % 7}", status))
    attrs: dict[str, object] = {"alertname": "Errors"}
    if ack:
        attrs.update(acknowledged_at=T0 + 65 * 60.0, acknowledged_line=7)
    events = [event_row(T0 + 63 * 60, "alert", "", "Errors", attrs=attrs, line=3,
                        source_file="pd.json", parser="pagerduty")]
    if change_at is not None:
        events.append(event_row(change_at, "reload", "lb-1", "reload", line=11,
                                source_file="lb-1/error.log"))
    return timeline.build(make_dataset(rows, events))


def test_mitigation_when_the_ratio_falls_before_the_end() -> None:
    a = _falling(ack=True)
    inc = a.incidents[0]
    kt = measure(a, inc)
    assert kt.mitigated.basis == "ratio_fell"
    assert kt.mitigated.ts == T0 + 80 * 60
    assert kt.mitigated.evidence.startswith("access.log:")
    assert kt.resolved.ts is not None and kt.mitigated.ts < kt.resolved.ts
    assert kt.acknowledged.ts == T0 + 65 * 60
    assert kt.acknowledged.evidence == "pd.json:7"
    assert kt.time_to_acknowledge_s == 120.0


def test_mitigation_is_the_change_just_before_the_fall() -> None:
    a = _falling(ack=False, change_at=T0 + 79 * 60 + 30)
    kt = measure(a, a.incidents[0])
    assert kt.mitigated.basis == "change" and kt.mitigated.ts == T0 + 79 * 60 + 30
    assert kt.mitigated.evidence == "lb-1/error.log:11"
    assert kt.acknowledged.ts is None and "no acknowledgement" in kt.acknowledged.reason
