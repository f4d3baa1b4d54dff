"""Tests of the Grafana parser (webhook contact-point payloads, alert state history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from parsers import grafana
from parsers.base import BadLineError
from tests.helpers import ALERT_ATTRS, check_stats, parse_events, rejected

DATA = Path(__file__).parent / "data" / "grafana"


def utc(h: int, mi: int, s: int = 0, us: int = 0) -> float:
    """Epoch seconds of a UTC wall-clock time on the samples' day, 2024-05-14."""
    return datetime(2024, 5, 14, h, mi, s, us, tzinfo=UTC).timestamp()


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, grafana, kinds=("alert",), attrs=ALERT_ATTRS)


def ann(
    id_: int, prev: str, new: str, t: float, labels: str = "instance=lb-1:9113", **over: Any
) -> dict[str, Any]:
    """One annotation of GET /api/annotations?type=alert."""
    base: dict[str, Any] = {
        "id": id_,
        "alertId": 7,
        "alertName": "HighErrorRate",
        "dashboardUID": None,
        "panelId": 0,
        "newState": new,
        "prevState": prev,
        "time": int(t * 1000),
        "timeEnd": int(t * 1000),
        "text": f"HighErrorRate {{alertname=HighErrorRate, {labels}}} - B=1.000000",
        "tags": [],
        "data": {"values": {"B": 1}},
    }
    base.update(over)
    return base


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# --- webhook payloads -----------------------------------------------------------------


def test_webhook_json_lines_merge_firing_and_resolved() -> None:
    events, stats = run(DATA / "webhook.jsonl")

    # Line 1: 2 alerts, line 2: torn write, line 3: 2 alerts.
    check_stats(stats, (5, 4, 1, 0), variant="webhook")
    assert [(r.line, r.reason.split(":")[0]) for r in stats.rejects] == [(2, "not valid JSON")]
    assert any("merged" in note for note in stats.notes)

    her, latency = events  # sorted by ts
    assert her["attrs"]["alertname"] == "HighErrorRate"
    assert (her["ts"], her["end"]) == (utc(10, 2), utc(10, 41))
    assert her["attrs"]["status"] == "resolved"
    assert (her["severity"], her["attrs"]["severity_raw"]) == ("critical", "critical")
    assert her["host"] == "lb-1:9113"
    assert her["message"] == "HighErrorRate: 5xx ratio above 5% on lb-1:9113"
    assert her["line"] == 1
    attrs = her["attrs"]
    assert attrs["link"] == "https://grafana.example.com/d/edge01/edge?orgId=1&viewPanel=4"
    assert attrs["dashboard_url"] == "https://grafana.example.com/d/edge01/edge?orgId=1"
    assert attrs["silence_url"].startswith("https://grafana.example.com/alerting/silence/new?")
    assert attrs["values"] == {"B": 12.4, "C": 1}  # the firing notification's values
    assert attrs["value_string"].startswith("[ var='B' labels={instance=lb-1:9113} value=12.4 ]")
    assert attrs["fingerprint"] == "a1b2c3d4e5f60718"
    assert (attrs["org_id"], attrs["receiver"]) == (1, "ops-webhook")
    assert attrs["labels"]["grafana_folder"] == "Edge"

    assert latency["attrs"]["alertname"] == "UpstreamLatency"
    assert (latency["ts"], latency["end"]) == (utc(10, 4, 30, 500000), None)
    assert latency["attrs"]["status"] == "firing"
    assert latency["severity"] == "warning"
    assert latency["host"] == "web-2:9113"
    # No dashboard or panel: the rule's own page.
    assert latency["attrs"]["link"] == (
        "https://grafana.example.com/alerting/grafana/0f1e2d3c/view?orgId=1"
    )
    assert latency["message"] == "UpstreamLatency: p99 upstream time above 2s"

    assert (stats.first_ts, stats.last_ts) == (utc(10, 2), utc(10, 41))


def test_webhook_bad_line_error_mode() -> None:
    with pytest.raises(BadLineError, match=r"webhook\.jsonl:2: not valid JSON"):
        run(DATA / "webhook.jsonl", on_bad_lines="error")


def test_webhook_single_payload_nodata_alert_with_offset() -> None:
    (event,), stats = run(DATA / "webhook_nodata.json")
    assert (stats.lines, stats.parsed) == (1, 1)
    # 12:20:00.123456+02:00
    assert (event["ts"], event["end"]) == (utc(10, 20, 0, 123456), None)
    assert event["attrs"]["alertname"] == "DatasourceNoData"
    assert event["attrs"]["labels"]["rulename"] == "HighErrorRate"
    assert event["attrs"]["values"] is None and event["attrs"]["value_string"] == ""
    assert (event["severity"], event["attrs"]["severity_raw"]) == ("info", "")
    assert event["host"] == ""
    assert event["message"] == "DatasourceNoData"
    assert event["attrs"]["title"] == "[FIRING:1] Edge (DatasourceNoData)"


def test_webhook_array_of_payloads(tmp_path: Path) -> None:
    payloads = [json.loads(ln) for ln in (DATA / "webhook.jsonl").read_text().splitlines()[::2]]
    events, stats = run(write(tmp_path / "payloads.json", payloads))
    assert (stats.lines, stats.parsed, stats.rejected) == (4, 4, 0)
    assert [e["line"] for e in events] == [1, 2]  # record index in the document
    assert events[0]["end"] == utc(10, 41)


# --- state history ---------------------------------------------------------------------


def test_state_history_spans() -> None:
    events, stats = run(DATA / "state_history.json")

    check_stats(stats, (11, 9, 0, 2), variant="state history (annotations API)", skips={
        "annotation that is not an alert state change": 1,
        "transition to Normal whose firing transition is not in the file": 1,
    })
    assert [
        (e["attrs"]["alertname"], e["host"], e["ts"], e["end"], e["attrs"]["state"], e["line"])
        for e in events
    ] == [
        ("HighErrorRate", "lb-1:9113", utc(10, 2), utc(10, 41), "Alerting", 9),
        ("HighErrorRate", "lb-2:9113", utc(10, 6), None, "Alerting", 7),
        ("DiskFull", "web-3:9100", utc(10, 10), utc(10, 20), "NoData", 6),
        ("UpstreamLatency", "web-2:9113", utc(10, 30), utc(10, 35), "Error", 3),
    ]
    her = events[0]
    assert her["attrs"]["status"] == "resolved"
    assert her["attrs"]["labels"] == {
        "alertname": "HighErrorRate",
        "grafana_folder": "Edge",
        "instance": "lb-1:9113",
        "severity": "critical",
    }
    assert her["severity"] == "critical"
    assert her["attrs"]["values"] == {"B": 12.4, "C": 1}
    assert (her["attrs"]["alert_id"], her["attrs"]["dashboard_uid"]) == (7, "edge01")
    assert her["attrs"]["prev_state"] == "Pending"
    assert her["message"] == "HighErrorRate: B=12.400000, C=1.000000"
    assert events[1]["attrs"]["status"] == "firing"

    disk = events[2]  # alertName is "" in its annotations: the name comes from the text
    assert disk["message"] == "DiskFull: No data"
    assert disk["severity"] == "info" and disk["attrs"]["severity_raw"] == ""

    latency = events[3]
    assert latency["attrs"]["error"] == "failed to execute query A: context deadline exceeded"
    assert latency["severity"] == "warning"
    assert (stats.first_ts, stats.last_ts) == (utc(10, 2), utc(10, 41))


def test_state_history_refiring_makes_two_spans(tmp_path: Path) -> None:
    t = utc(10, 0)
    doc = [
        ann(6, "Pending", "Alerting", t + 400),
        ann(5, "Normal", "Pending", t + 340),
        ann(4, "Alerting", "Normal (MissingSeries)", t + 300),
        ann(3, "Alerting", "Error", t + 200),  # still one span
        ann(2, "Pending", "Alerting", t + 60),
        ann(1, "Normal", "Pending", t),
    ]
    events, stats = run(write(tmp_path / "history.json", doc))
    assert (stats.lines, stats.parsed, stats.skipped) == (6, 6, 0)
    assert [(e["ts"], e["end"], e["attrs"]["states"]) for e in events] == [
        (t + 60, t + 300, ["Alerting", "Error"]),
        (t + 400, None, ["Alerting"]),
    ]
    assert events[0]["attrs"]["resolved_state"] == "Normal (MissingSeries)"


def test_state_history_instances_are_told_apart_by_labels(tmp_path: Path) -> None:
    t = utc(10, 0)
    doc = [
        ann(1, "Pending", "Alerting", t, "instance=a"),
        ann(2, "Pending", "Alerting", t + 5, "instance=b"),
        ann(3, "Alerting", "Normal", t + 10, "instance=a"),
    ]
    events, _ = run(write(tmp_path / "history.json", doc))
    assert [(e["host"], e["end"]) for e in events] == [("a", t + 10), ("b", None)]


def test_state_history_labels_from_tags_when_the_text_has_none(tmp_path: Path) -> None:
    doc = [ann(1, "Pending", "Alerting", utc(10, 0), text="", tags=["instance:web-1_9113"])]
    (event,), _ = run(write(tmp_path / "history.json", doc))
    assert event["attrs"]["labels"] == {"instance": "web-1_9113"}
    assert event["host"] == "web-1_9113"
    assert event["attrs"]["alertname"] == "HighErrorRate"


def test_state_history_rejects(tmp_path: Path) -> None:
    doc = [
        ann(1, "Normal", "Alerting", utc(10, 0), time=None),
        ann(2, "Normal", "Exploded", utc(10, 0)),
        "not an object",
        ann(3, "Normal", "Alerting", utc(10, 1)),
    ]
    events, stats = run(write(tmp_path / "history.json", doc))
    assert (stats.lines, stats.parsed, stats.rejected) == (4, 1, 3)
    assert rejected(stats) == [
        (1, "annotation has no time"),
        (2, "unknown newState 'Exploded'"),
        (3, "item is neither a webhook payload nor an annotation"),
    ]
    assert len(events) == 1


def test_empty_answer_is_an_empty_history(tmp_path: Path) -> None:
    events, stats = run(write(tmp_path / "history.json", []))
    assert events == [] and stats.lines == 0
    assert stats.variant == "state history (annotations API)"


def test_only_user_annotations_are_skipped_not_an_error(tmp_path: Path) -> None:
    doc = [ann(1, "", "", utc(10, 0), alertId=0, text="Deploy v2")]
    events, stats = run(write(tmp_path / "annotations.json", doc))
    assert events == [] and (stats.lines, stats.skipped) == (1, 1)


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        (
            "HighErrorRate {alertname=HighErrorRate, instance=lb-1:9113} - B=1.000000",
            "",
            (
                "HighErrorRate",
                {"alertname": "HighErrorRate", "instance": "lb-1:9113"},
                "B=1.000000",
            ),
        ),
        ("Disk {} - No data", "", ("Disk", {}, "No data")),
        # A label value holding ", " stays whole; a title holding " {" needs alertName.
        ("R {a=x, y, b=2} - Error", "", ("R", {"a": "x, y", "b": "2"}, "Error")),
        ("Rate {5m} {job=api} - B=2", "Rate {5m}", ("Rate {5m}", {"job": "api"}, "B=2")),
        ("free text", "", ("free text", {}, "")),
    ],
)
def test_split_text(text: str, hint: str, expected: tuple[str, dict[str, str], str]) -> None:
    assert grafana._split_text(text, hint) == expected


# --- malformed documents -----------------------------------------------------------------


# --- sniff -------------------------------------------------------------------------------

