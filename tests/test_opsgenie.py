"""Tests of the Opsgenie parser (webhook alert actions, REST v2 alerts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from parsers import opsgenie
from tests.helpers import ALERT_ATTRS, check_stats, parse_events, rejected

DATA = Path(__file__).parent / "data" / "opsgenie"


def utc(h: int, mi: int, s: int = 0, us: int = 0) -> float:
    """Epoch seconds of a UTC wall-clock time on the samples' day, 2024-05-14."""
    return datetime(2024, 5, 14, h, mi, s, us, tzinfo=UTC).timestamp()


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, opsgenie, kinds=("alert",), attrs=ALERT_ATTRS)


def payloads() -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (DATA / "webhook.jsonl").read_text().splitlines()]


# --- webhook -----------------------------------------------------------------------------


def test_webhook_actions_merge_into_spans() -> None:
    events, stats = run(DATA / "webhook.jsonl")
    check_stats(stats, (5, 5, 0, 0), variant="webhook")
    assert any("merged" in note for note in stats.notes)

    fire, latency = events
    attrs = fire["attrs"]
    assert attrs["alertname"] == "5xx ratio above 5% on the edge"
    assert fire["ts"] == utc(10, 2, 12)  # createdAt, epoch ms
    # updatedAt of Acknowledge and Close, epoch ns (19 digits).
    assert attrs["acknowledged_at"] == utc(10, 7, 40, 123456)
    assert attrs["acknowledged_line"] == 3  # the Acknowledge payload, the evidence
    assert fire["end"] == attrs["resolved_at"] == utc(10, 41, 5, 500000)
    assert attrs["status"] == "closed"
    assert attrs["actions"] == ["Create", "AddNote", "Acknowledge", "Close"]
    assert (attrs["acknowledged_by"], attrs["closed_by"]) == (
        "bob@example.com",
        "alice@example.com",
    )
    assert (fire["severity"], attrs["severity_raw"], attrs["priority"]) == ("critical", "P1", "P1")
    assert fire["host"] == attrs["entity"] == "lb-1"
    assert attrs["labels"] == {"cluster": "prod", "alertname": "HighErrorRate", "env": "prod"}
    assert attrs["tags"] == ["env:prod", "nginx"]
    assert (attrs["tiny_id"], attrs["alias"]) == ("42", "edge-5xx")
    assert attrs["alert_id"].startswith("6ad16a1e-")
    assert attrs["integration_name"] == "Incident timeline webhook"
    assert fire["message"] == (
        "5xx ratio above 5% on the edge: Prometheus alert HighErrorRate fired."
    )
    assert fire["line"] == 1

    assert (latency["ts"], latency["end"]) == (utc(10, 5), None)
    assert latency["attrs"]["status"] == "open"
    assert "acknowledged_at" not in latency["attrs"]
    assert (latency["severity"], latency["attrs"]["severity_raw"]) == ("warning", "P3")
    assert latency["line"] == 4
    assert (stats.first_ts, stats.last_ts) == (utc(10, 2, 12), utc(10, 41, 5, 500000))


def test_webhook_order_in_the_file_does_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "webhook.json"
    path.write_text(json.dumps(list(reversed(payloads()))))
    events, _ = run(path)
    fire = events[0]
    assert fire["attrs"]["acknowledged_at"] == utc(10, 7, 40, 123456)
    assert fire["end"] == utc(10, 41, 5, 500000)
    assert fire["attrs"]["status"] == "closed"


def test_single_webhook_payload() -> None:
    (event,), stats = run(DATA / "webhook_create.json")
    assert (stats.lines, stats.parsed, stats.variant) == (1, 1, "webhook")
    assert (event["ts"], event["end"]) == (utc(10, 10), None)
    assert (event["severity"], event["host"]) == ("error", "web-3")
    assert event["attrs"]["status"] == "open"


def test_webhook_without_priority_reads_as_the_default_p3(tmp_path: Path) -> None:
    doc = payloads()[3]
    del doc["alert"]["priority"]
    path = tmp_path / "create.json"
    path.write_text(json.dumps(doc))
    (event,), _ = run(path)
    assert (event["severity"], event["attrs"]["severity_raw"]) == ("warning", "")


def test_webhook_rejects(tmp_path: Path) -> None:
    good = payloads()[3]
    no_id = json.loads(json.dumps(good))
    del no_id["alert"]["alertId"]
    bad_time = json.loads(json.dumps(good))
    bad_time["alert"]["createdAt"] = "yesterday"
    path = tmp_path / "webhook.json"
    path.write_text(json.dumps([good, no_id, bad_time, {"unrelated": True}]))
    events, stats = run(path)
    assert (stats.lines, stats.parsed, stats.rejected) == (4, 1, 3)
    assert rejected(stats) == [
        (2, "alert has no alertId"),
        (3, "bad epoch time 'yesterday'"),
        (4, "item is not a webhook payload"),
    ]
    assert len(events) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1420452191104, 1420452191.104),  # createdAt, ms
        (1420452193166002000, 1420452193.166002),  # updatedAt, ns
        ("1420452191104", 1420452191.104),
        (1420452191104000, 1420452191.104),  # us
        (1420452191, 1420452191.0),  # s
        (None, None),
    ],
)
def test_epoch(value: Any, expected: float | None) -> None:
    assert opsgenie._epoch(value) == expected


# --- REST ------------------------------------------------------------------------------------


def test_rest_alert_list() -> None:
    events, stats = run(DATA / "alerts_list.json")
    check_stats(stats, (2, 2, 0, 0), variant="api v2 alerts")
    fire, latency = events
    assert fire["ts"] == utc(10, 2, 12)
    # report.ackTime 268123 ms and closeTime 2333500 ms after createdAt.
    assert fire["attrs"]["acknowledged_at"] == utc(10, 6, 40, 123000)
    assert fire["end"] == fire["attrs"]["resolved_at"] == utc(10, 41, 5, 500000)
    assert fire["attrs"]["status"] == "closed"
    assert fire["attrs"]["closed_by"] == "alice@example.com"
    assert fire["attrs"]["count"] == 3
    assert fire["attrs"]["integration_name"] == "Prometheus"
    assert fire["line"] == 2  # second in the answer

    assert (latency["ts"], latency["end"]) == (utc(10, 5), None)
    assert latency["attrs"]["status"] == "acknowledged"
    assert latency["attrs"]["acknowledged_at"] == utc(10, 5, 45)


def test_rest_single_alert() -> None:
    (event,), stats = run(DATA / "alert_get.json")
    assert (stats.lines, stats.parsed) == (1, 1)
    assert (event["ts"], event["end"]) == (utc(10, 10), utc(10, 52, 30))
    assert event["attrs"]["acknowledged"] is False
    assert "acknowledged_at" not in event["attrs"]
    assert event["attrs"]["labels"] == {"mount": "/", "used_pct": "93", "env": "prod"}
    assert event["message"] == "Disk almost full on web-3: Filesystem / on web-3 is 93% full."
    assert (event["severity"], event["host"]) == ("error", "web-3")


def test_rest_open_alert_has_no_end_even_with_close_time(tmp_path: Path) -> None:
    doc = json.loads((DATA / "alert_get.json").read_text())
    doc["data"]["status"] = "open"
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(doc))
    (event,), _ = run(path)
    assert event["end"] is None and "resolved_at" not in event["attrs"]


@pytest.mark.parametrize("key", ["closeTime", "ackTime"])
def test_a_report_duration_past_any_time_is_left_out(tmp_path: Path, key: str) -> None:
    """Found by the long fuzz run: ``"closeTime": 1e+308`` (ms) overflowed the sum and the
    build ended in an internal error. The alert is kept, without that time."""
    doc = json.loads((DATA / "alert_get.json").read_text())
    doc["data"]["report"] = {key: 1e308, "closedBy": "carol", "acknowledgedBy": "bob"}
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(doc))
    (event,), stats = run(path)
    assert stats.parsed == 1 and event["ts"] == utc(10, 10)
    assert event["end"] is None and "resolved_at" not in event["attrs"]
    assert "acknowledged_at" not in event["attrs"]


# --- malformed documents ---------------------------------------------------------------------


def test_json_lines_with_a_torn_line(tmp_path: Path) -> None:
    lines = (DATA / "webhook.jsonl").read_text().splitlines()
    path = tmp_path / "webhook.jsonl"
    path.write_text("\n".join([lines[0], lines[1][:60], lines[4], '{"level":"info"}']) + "\n")
    events, stats = run(path)
    check_stats(stats, (4, 2, 1, 1))
    assert stats.rejects[0].line == 2
    assert events[0]["end"] == utc(10, 41, 5, 500000)


# --- sniff -----------------------------------------------------------------------------------

