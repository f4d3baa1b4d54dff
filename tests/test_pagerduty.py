"""Tests of the PagerDuty parser (REST incidents and log entries, incidents CSV)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from parsers import pagerduty
from tests.helpers import (
    ALERT_ATTRS,
    check_all_rejected,
    check_stats,
    parse_error,
    parse_events,
    rejected,
)

DATA = Path(__file__).parent / "data" / "pagerduty"


def utc(h: int, mi: int, s: int = 0, us: int = 0) -> float:
    """Epoch seconds of a UTC wall-clock time on the samples' day, 2024-05-14."""
    return datetime(2024, 5, 14, h, mi, s, us, tzinfo=UTC).timestamp()


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, pagerduty, kinds=("alert",), attrs=ALERT_ATTRS,
              fixed={"host": ""})


def compact(path: Path) -> str:
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


# --- REST incidents ------------------------------------------------------------------------


def test_incidents_list() -> None:
    events, stats = run(DATA / "incidents.json")
    check_stats(stats, (2, 2, 0, 0), variant="api incidents")

    fire, latency = events
    assert fire["attrs"]["alertname"] == "5xx ratio above 5% on the edge"
    assert (fire["ts"], fire["end"]) == (utc(10, 3, 12), utc(10, 41, 5))
    assert fire["attrs"]["status"] == "resolved"
    assert fire["attrs"]["resolved_at"] == utc(10, 41, 5)
    # PagerDuty empties acknowledgements[] on resolve: only the log entries know.
    assert "acknowledged_at" not in fire["attrs"]
    assert (fire["severity"], fire["attrs"]["severity_raw"]) == ("critical", "P1")
    assert fire["attrs"]["incident_number"] == 1234
    assert fire["attrs"]["incident_id"] == "Q1KJ0MMKUDRH3T"
    assert fire["attrs"]["incident_key"] == "edge-5xx"
    assert fire["attrs"]["labels"] == {"service": "Edge (nginx)"}
    assert fire["attrs"]["link"] == "https://acme.pagerduty.com/incidents/Q1KJ0MMKUDRH3T"
    assert fire["message"] == "5xx ratio above 5% on the edge"
    assert fire["line"] == 1

    # Times in the time_zone asked for (-04:00), read as UTC.
    assert (latency["ts"], latency["end"]) == (utc(10, 5), None)
    assert latency["attrs"]["acknowledged_at"] == utc(10, 9, 30)
    assert "resolved_at" not in latency["attrs"]
    assert latency["attrs"]["status"] == "acknowledged"
    assert (latency["severity"], latency["attrs"]["severity_raw"]) == ("warning", "low")
    assert (stats.first_ts, stats.last_ts) == (utc(10, 3, 12), utc(10, 41, 5))


def test_single_incident() -> None:
    (event,), stats = run(DATA / "incident.json")
    assert (stats.lines, stats.parsed, stats.variant) == (1, 1, "api incidents")
    assert (event["ts"], event["end"]) == (utc(10, 10), None)
    assert event["attrs"]["status"] == "triggered"
    assert (event["severity"], event["attrs"]["severity_raw"]) == ("error", "P2")
    assert event["attrs"]["service"] == "Nodes"


def test_repeated_incident_keeps_the_later_snapshot(tmp_path: Path) -> None:
    inc = json.loads((DATA / "incidents.json").read_text())["incidents"][0]
    older = inc | {
        "status": "triggered",
        "resolved_at": None,
        "last_status_change_at": "2024-05-14T10:03:12Z",
    }
    path = tmp_path / "pages.jsonl"
    path.write_text(
        json.dumps({"incidents": [inc]}) + "\n" + json.dumps({"incidents": [older]}) + "\n"
    )
    (event,), stats = run(path)
    assert (stats.lines, stats.parsed) == (2, 2)
    assert event["attrs"]["status"] == "resolved" and event["end"] == utc(10, 41, 5)
    assert any("merged" in note for note in stats.notes)


# --- log entries -----------------------------------------------------------------------


def test_log_entries_group_into_spans() -> None:
    events, stats = run(DATA / "log_entries.json")
    check_stats(stats, (8, 5, 0, 3), variant="api log entries", skips={
        "log entry that is not a trigger, acknowledge or resolve": 2,
        "log entries of an incident whose trigger is not in the file": 1,
    })
    fire, latency = events
    # "[#1234] 5xx ratio above 5% on the edge" is the reference summary.
    assert fire["attrs"]["alertname"] == "5xx ratio above 5% on the edge"
    assert fire["attrs"]["incident_number"] == 1234
    assert (fire["ts"], fire["end"]) == (utc(10, 3, 12), utc(10, 41, 5))
    assert fire["attrs"]["acknowledged_at"] == utc(10, 7, 40)
    assert fire["attrs"]["resolved_at"] == utc(10, 41, 5)
    assert fire["attrs"]["status"] == "resolved"
    assert fire["attrs"]["log_entries"] == 3
    # A reference carries no urgency or priority.
    assert (fire["severity"], fire["attrs"]["severity_raw"]) == ("error", "")
    assert fire["line"] == 8  # the trigger entry (the answer lists newest first)
    # The acknowledgement cites its own log entry (record number), the evidence of its time.
    entries = json.loads((DATA / "log_entries.json").read_text())["log_entries"]
    for ev in events:
        ack = entries[ev["attrs"]["acknowledged_line"] - 1]
        assert ack["type"] == "acknowledge_log_entry"
        assert ack["incident"]["id"] == ev["attrs"]["incident_id"]

    assert (latency["ts"], latency["end"]) == (utc(10, 5), None)
    assert latency["attrs"]["acknowledged_at"] == utc(10, 9, 30)
    assert latency["attrs"]["status"] == "acknowledged"


def test_incidents_and_log_entries_in_one_file_merge(tmp_path: Path) -> None:
    path = tmp_path / "pd.jsonl"
    path.write_text(compact(DATA / "incidents.json") + "\n" + compact(DATA / "log_entries.json"))
    events, stats = run(path)
    assert (stats.lines, stats.parsed, stats.skipped) == (10, 7, 3)
    fire, latency = events
    assert fire["attrs"]["acknowledged_at"] == utc(10, 7, 40)  # from the log
    assert (fire["severity"], fire["attrs"]["severity_raw"]) == ("critical", "P1")  # incident
    assert latency["attrs"]["acknowledged_at"] == utc(10, 9, 30)
    assert [e["line"] for e in events] == [1, 1]


def test_log_entry_rejects(tmp_path: Path) -> None:
    entries = [
        {"type": "trigger_log_entry", "created_at": "2024-05-14T10:00:00Z"},
        {"type": "trigger_log_entry", "created_at": "soon", "incident": {"id": "Q1"}},
        {"type": "trigger_log_entry", "incident": {"id": "Q1"}},
        7,
    ]
    path = tmp_path / "log.json"
    path.write_text(json.dumps({"log_entries": entries}))
    check_all_rejected(run(path), [
        (1, "log entry has no incident.id"),
        (2, "bad timestamp 'soon'"),
        (3, "log entry has no created_at"),
        (4, "log entry is not a JSON object"),
    ])


# --- CSV -------------------------------------------------------------------------------------


def test_incidents_csv() -> None:
    events, stats = run(DATA / "incidents.csv")
    check_stats(stats, (4, 3, 1, 0), variant="incidents csv")
    assert rejected(stats) == [(5, "bad timestamp 'yesterday'")]
    assert stats.notes == ["times without a zone read as UTC"]
    assert [
        (
            e["attrs"]["incident_number"],
            e["ts"],
            e["end"],
            e["attrs"].get("acknowledged_at"),
            e["attrs"]["status"],
            e["severity"],
            e["line"],
        )
        for e in events
    ] == [
        (1234, utc(10, 3, 12), utc(10, 41, 5), utc(10, 7, 40), "resolved", "critical", 2),
        (1235, utc(10, 5), None, utc(10, 9, 30), "acknowledged", "warning", 3),
        (1236, utc(10, 10), None, None, "triggered", "error", 4),
    ]
    assert events[1]["attrs"]["alertname"] == "Upstream latency on web-2, p99 > 2s"
    assert events[1]["sample"] == (
        'Q2ZZ9ABCD1EFGH,1235,"Upstream latency on web-2, p99 > 2s",acknowledged,low,,'
        "Edge (nginx),2024-05-14T06:05:00-04:00,2024-05-14T06:09:30-04:00,"
    )
    assert events[0]["attrs"]["labels"] == {"service": "Edge (nginx)"}


def test_csv_headers_in_title_case_and_durations(tmp_path: Path) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(
        "\ufeffIncident Number,Description,Status,Urgency,Created On,Seconds To First Ack,"
        "Seconds To Resolve,Service Name\r\n"
        "1240,Edge down,resolved,HIGH,2024-05-14T10:00:00Z,90,600.5,Edge\r\n"
        "\r\n"
    )
    (event,), stats = run(path)
    assert (stats.lines, stats.parsed) == (1, 1)
    assert event["attrs"]["alertname"] == "Edge down"
    assert event["attrs"]["acknowledged_at"] == utc(10, 1, 30)
    assert event["end"] == event["attrs"]["resolved_at"] == utc(10, 10, 0, 500000)
    assert (event["severity"], event["attrs"]["severity_raw"]) == ("critical", "high")


def test_csv_missing_columns_raise_one_line_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text("id,status,urgency\nQ1,resolved,high\n")
    assert parse_error(pagerduty, path) == (
        f"{path}: missing columns: title or description, created_on or created_at "
        "(expected a PagerDuty incidents CSV export)"
    )


# --- malformed documents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "urgency", "expected"),
    [
        ("P1", "low", ("critical", "P1")),
        ("P2", "high", ("error", "P2")),
        ("p3", "high", ("warning", "p3")),
        ("P4", "high", ("info", "P4")),
        ("P5", "", ("info", "P5")),
        ("", "high", ("critical", "high")),
        ("", "low", ("warning", "low")),
        ("SEV-1", "high", ("critical", "high")),  # a custom priority name: urgency decides
        ("", "", ("error", "")),
    ],
)
def test_severity(priority: str, urgency: str, expected: tuple[str, str]) -> None:
    assert pagerduty._severity(priority, urgency) == expected


# --- sniff -----------------------------------------------------------------------------------

