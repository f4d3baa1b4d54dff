"""Tests of the change-events parser (CSV and JSON; format in docs/changes.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from parsers import changes
from tests.helpers import (
    ALERT_ATTRS,
    check_all_rejected,
    check_stats,
    parse_error,
    parse_events,
    rejected,
)

DATA = Path(__file__).parent / "data" / "changes"


def utc(h: int, mi: int, s: int = 0, us: int = 0) -> float:
    """Epoch seconds of a UTC wall-clock time on the samples' day, 2024-05-14."""
    return datetime(2024, 5, 14, h, mi, s, us, tzinfo=UTC).timestamp()


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, changes, kinds=changes.KINDS, attrs=(*ALERT_ATTRS, "change_kind_raw"),
              fixed={"severity": "info"})


def test_csv_sample() -> None:
    events, stats = run(DATA / "changes.csv")
    check_stats(stats, (8, 7, 1, 0), variant="csv")
    assert rejected(stats) == [(7, "bad time 'not-a-time'")]
    assert stats.notes == [
        "times without a zone read as UTC",
        "1 changes had a kind not recognised, read as other: 'dns'",
    ]
    assert [
        (e["kind"], e["attrs"]["change_kind_raw"], e["ts"], e["end"], e["host"], e["line"])
        for e in events
    ] == [
        ("deploy", "release", utc(9, 55), utc(9, 58, 30), "lb-1", 2),
        ("config_change", "config", utc(10, 0, 30), None, "lb-1", 3),  # +02:00
        ("rollback", "Revert", utc(10, 45), None, "lb-1", 4),  # epoch seconds
        ("restart", "service restart", utc(10, 50), None, "web-2", 5),  # epoch ms
        ("feature_flag", "feature flag", utc(10, 52), None, "", 6),  # no zone: UTC
        ("manual_action", "maintenance window", utc(11, 0), utc(11, 20), "web-4", 8),
        ("other", "dns", utc(11, 5), None, "", 9),
    ]
    deploy = events[0]
    assert deploy["message"] == "Deploy edge v2.3.1 (new upstream keepalive settings)"
    assert deploy["attrs"]["author"] == "ci-bot"
    assert deploy["attrs"]["link"] == "https://ci.example.com/builds/812"
    assert deploy["attrs"]["labels"] == {"service": "edge"}  # empty ticket dropped
    assert deploy["attrs"]["alertname"] == "" and deploy["attrs"]["status"] == ""
    config = events[1]
    assert config["message"] == "nginx: proxy_read_timeout 60s -> 5s, reload"
    assert config["attrs"]["labels"] == {"service": "edge", "ticket": "OPS-123"}
    assert config["sample"] == (
        '2024-05-14T12:00:30+02:00,,config,"nginx: proxy_read_timeout 60s -> 5s, reload",'
        "lb-1,alice,,edge,OPS-123"
    )
    assert (stats.first_ts, stats.last_ts) == (utc(9, 55), utc(11, 20))


def test_json_sample() -> None:
    events, stats = run(DATA / "changes.json")
    check_stats(stats, (3, 2, 1, 0), variant="json")
    assert rejected(stats) == [(3, "missing description")]
    flag, failover = events
    assert (flag["kind"], flag["attrs"]["change_kind_raw"]) == ("feature_flag", "Feature-Flag")
    assert flag["ts"] == utc(10, 44) and flag["end"] is None
    assert flag["attrs"]["labels"] == {"flag": "edge_keepalive_v2", "env": "prod"}
    assert (failover["kind"], failover["ts"], failover["end"]) == (
        "manual_action",
        utc(11, 0),
        utc(11, 5),
    )
    assert failover["host"] == "db-1"
    assert failover["sample"].startswith('{"author":"bob","description":"Fail over')
    assert stats.notes == []


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "changes.jsonl"
    path.write_text(
        '{"time": "2024-05-14T10:00:00Z", "kind": "deploy", "description": "v1"}\n'
        '{"time": "2024-05-14T10:0\n'
        '{"level": "info", "msg": "ci runner started"}\n'
        '{"Time": 1715681100, "KIND": "Rollback", "Description": "back to v0", "Status": "done"}\n'
    )
    events, stats = run(path)
    check_stats(stats, (4, 2, 1, 1), variant="json lines")
    assert stats.rejects[0].line == 2
    assert [(e["kind"], e["ts"], e["line"]) for e in events] == [
        ("deploy", utc(10, 0), 1),
        ("rollback", utc(10, 5), 4),
    ]
    assert events[1]["attrs"]["status"] == "done"  # a status column fills attrs["status"]


def test_semicolon_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    path.write_bytes(
        b"\xef\xbb\xbfTime;Kind;Description;Host\r\n"
        b"2024-05-14T10:00:00.5Z;Deployment;Ship v2;web-1\r\n"
        b"\r\n"
        b"2024-05-14T10:01:00Z;;No kind;web-1\r\n"
    )
    events, stats = run(path)
    assert (stats.lines, stats.parsed, stats.rejected) == (2, 1, 1)
    assert rejected(stats) == [(4, "missing kind")]
    (event,) = events
    assert (event["kind"], event["ts"], event["host"]) == ("deploy", utc(10, 0, 0, 500000), "web-1")


def test_row_rejects(tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    path.write_text(
        "time,end,kind,description\n"
        "2024-05-14T10:00:00Z,2024-05-14T09:00:00Z,deploy,ends before it starts\n"
        "2024-05-14T10:00:00Z,later,deploy,bad end\n"
        ",,deploy,no time\n"
        "0,,deploy,epoch zero\n"
    )
    check_all_rejected(run(path), [
        (2, "end is before time"),
        (3, "bad end 'later'"),
        (4, "missing time"),
        (5, "bad time '0'"),
    ])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("deploy", "deploy"),
        ("Release", "deploy"),
        ("canary release", "deploy"),
        ("Deployment", "deploy"),
        ("config", "config_change"),
        ("Config Change", "config_change"),
        ("nginx reload", "config_change"),
        ("revert", "rollback"),
        ("Revert deploy", "rollback"),  # rollback wins over deploy
        ("roll-back", "rollback"),
        ("restart", "restart"),
        ("rollout restart", "restart"),
        ("reboot", "restart"),
        ("feature flag", "feature_flag"),
        ("toggle", "feature_flag"),
        ("manual", "manual_action"),
        ("failover", "manual_action"),
        ("dns", "other"),
        ("other", "other"),
        ("", "other"),
    ],
)
def test_normalize_kind(raw: str, expected: str) -> None:
    assert changes.normalize_kind(raw) == expected


# --- malformed files ---------------------------------------------------------------------------


def test_csv_missing_columns_raise_one_line_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("when,what,description\n2024-05-14T10:00:00Z,deploy,v2\n")
    msg = parse_error(changes, path)
    assert msg == f"{path}: missing columns: time, kind (see docs/changes.md)"


def test_json_of_another_kind_raises_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "incidents.json"
    path.write_bytes((Path(__file__).parent / "data" / "pagerduty" / "incidents.json").read_bytes())
    assert parse_error(changes, path) == (
        f"{path}: JSON is not a change-events file: missing keys time, kind, description "
        "(see docs/changes.md)"
    )


def test_empty_json_array_is_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "changes.json"
    path.write_text("[]")
    events, stats = run(path)
    assert events == [] and stats.lines == 0


# --- sniff ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["csv", "json"])
def test_docs_examples_read_as_the_docs_say(tmp_path: Path, lang: str) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "changes.md").read_text()
    block = doc.split(f"```{lang}\n", 1)[1].split("```", 1)[0]
    path = tmp_path / f"changes.{lang}"
    path.write_text(block)
    events, stats = run(path)
    assert stats.notes == ["times without a zone read as UTC"]
    assert [(e["kind"], e["ts"], e["end"], e["host"]) for e in events] == [
        ("deploy", utc(9, 55), utc(9, 58, 30), "lb-1"),
        ("config_change", utc(10, 0, 30), None, "lb-1"),
        ("rollback", utc(10, 45), None, "lb-1"),
        ("feature_flag", utc(10, 52), None, ""),
    ]
