"""Tests of the Datadog parser (Webhooks integration notifications)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from parsers import datadog
from tests.helpers import ALERT_ATTRS, check_stats, parse_events, rejected

DATA = Path(__file__).parent / "data" / "datadog"


def utc(h: int, mi: int, s: int = 0, us: int = 0) -> float:
    """Epoch seconds of a UTC wall-clock time on the samples' day, 2024-05-14."""
    return datetime(2024, 5, 14, h, mi, s, us, tzinfo=UTC).timestamp()


def ms(h: int, mi: int, s: int = 0) -> str:
    """``$DATE`` as the template sends it: epoch milliseconds in a string."""
    return str(int(utc(h, mi, s)) * 1000)


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, datadog, kinds=("alert",), attrs=ALERT_ATTRS)


def note(title: str, t: str, **over: Any) -> dict[str, Any]:
    """A notification of a small custom template."""
    return {"title": title, "date": t, **over}


def write(path: Path, docs: list[Any]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


# --- samples ---------------------------------------------------------------------------------


def test_custom_template_pairs_by_cycle_key() -> None:
    events, stats = run(DATA / "webhook_custom.jsonl")
    check_stats(stats, (6, 4, 0, 2), variant="webhook (custom template)", skips={
        "notification that is not a monitor alert transition": 1,
        "Recovered notification whose trigger is not in the file": 1,
    })

    fire, latency = events
    assert fire["attrs"]["alertname"] == "5xx ratio above 5%"
    assert (fire["ts"], fire["end"]) == (utc(10, 2), utc(10, 41))
    assert fire["attrs"]["status"] == "resolved"
    assert fire["attrs"]["transitions"] == ["Triggered", "Recovered"]
    assert (fire["severity"], fire["attrs"]["severity_raw"]) == ("critical", "P1")
    assert fire["host"] == "web-1"
    assert fire["attrs"]["labels"] == {"env": "prod", "service": "edge", "host": "web-1"}
    assert fire["attrs"]["cycle_key"] == "7461223438912348700"
    assert fire["attrs"]["alert_id"] == "123456"
    assert fire["attrs"]["link"] == ("https://app.datadoghq.com/event/event?id=7461223438912348765")
    assert fire["message"] == (
        "5xx ratio above 5%: sum:nginx.5xx{host:web-1} / sum:nginx.requests{host:web-1} "
        "> 0.05 on average during the last 5m"
    )
    assert fire["line"] == 1

    # Warn, then Triggered in the same alert cycle: one open span, severity raised.
    assert (latency["ts"], latency["end"]) == (utc(10, 5), None)
    assert latency["attrs"]["status"] == "firing"
    assert latency["attrs"]["transitions"] == ["Warn", "Triggered"]
    assert (latency["severity"], latency["attrs"]["severity_raw"]) == ("error", "error")
    assert latency["host"] == "web-2"
    assert latency["line"] == 3
    assert (stats.first_ts, stats.last_ts) == (utc(10, 2), utc(10, 41))


def test_default_template_pairs_by_title_and_scope() -> None:
    (event,), stats = run(DATA / "webhook_default.json")
    check_stats(stats, (2, 2, 0, 0), variant="webhook (default template)")
    assert (event["ts"], event["end"]) == (utc(10, 5), utc(10, 20))
    assert event["attrs"]["alertname"] == "CPU usage high"
    assert event["attrs"]["scope"] == "host:i-3b93aafb"
    assert event["host"] == "i-3b93aafb"
    # No priority or alert type in the default template: the transition decides.
    assert (event["severity"], event["attrs"]["severity_raw"]) == ("error", "")
    assert event["message"] == "CPU usage high: CPU usage above 90% on i-3b93aafb for 5 minutes."
    assert event["attrs"]["event_id"] == "7461223438912349001"
    assert event["attrs"]["labels"] == {}


# --- pairing -------------------------------------------------------------------------------


def test_without_cycle_key_hosts_are_separate_spans(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dd.jsonl",
        [
            note("[Triggered on {host:a}] Disk full", ms(10, 0)),
            note("[Triggered on {host:b}] Disk full", ms(10, 1)),
            note("[Recovered on {host:a}] Disk full", ms(10, 2)),
            note("[Re-Triggered on {host:b}] Disk full", ms(10, 3)),
            note("[Recovered on {host:b}] Disk full", ms(10, 4)),
            note("[Triggered on {host:a}] Disk full", ms(10, 5)),  # fires again
        ],
    )
    events, stats = run(path)
    assert stats.parsed == 6
    assert [(e["host"], e["ts"], e["end"]) for e in events] == [
        ("a", utc(10, 0), utc(10, 2)),
        ("b", utc(10, 1), utc(10, 4)),
        ("a", utc(10, 5), None),
    ]
    assert events[1]["attrs"]["transitions"] == ["Triggered", "Re-Triggered", "Recovered"]


def test_notifications_are_paired_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "dd.json"
    path.write_text(
        json.dumps(
            [
                note("[Recovered on {host:a}] CPU", ms(10, 9), alert_cycle_key="k"),
                note("[Triggered on {host:a}] CPU", ms(10, 1), alert_cycle_key="k"),
            ]
        )
    )
    (event,), stats = run(path)
    assert (event["ts"], event["end"]) == (utc(10, 1), utc(10, 9))
    assert event["line"] == 2


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"alert_priority": "P2", "alert_type": "warning"}, ("error", "P2")),
        ({"priority": "p4"}, ("info", "p4")),
        ({"alert_type": "warning"}, ("warning", "warning")),
        ({"ALERT_TYPE": "info"}, ("info", "info")),
        ({}, ("error", "")),
    ],
)
def test_severity(tmp_path: Path, fields: dict[str, str], expected: tuple[str, str]) -> None:
    path = write(tmp_path / "dd.jsonl", [note("[Triggered on {host:a}] X", ms(10, 0), **fields)])
    (event,), _ = run(path)
    assert (event["severity"], event["attrs"]["severity_raw"]) == expected


def test_no_data_transition_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "dd.jsonl", [note("[No Data on {host:a}] X", ms(10, 0))])
    (event,), _ = run(path)
    assert event["severity"] == "warning"
    assert event["attrs"]["transition"] == "No Data"


def test_field_names_in_any_case_and_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dd.jsonl",
        [
            {
                "ALERT_TRANSITION": "Triggered",
                "alertTitle": "[Triggered on {env:prod,host:web-9}] Latency",
                "date_posix": str(int(utc(10, 0))),
                "Tags": ["env:prod", "role:web", "role:edge", "canary"],
            },
            {"title": "[Triggered] [Memory Alert]", "date": "2024-05-14T10:01:00Z"},
            {"title": "[Triggered on {host:x}] Y", "date": "$DATE"},
            {"title": "[Triggered on {host:x}] Y", "date": "soon"},
        ],
    )
    events, stats = run(path)
    assert rejected(stats) == [
        (3, "notification has no date"),
        (4, "bad date 'soon'"),
    ]
    latency, memory = events
    assert latency["ts"] == utc(10, 0)
    assert latency["host"] == "web-9"  # from the scope in the title
    assert latency["attrs"]["labels"] == {"env": "prod", "role": "web,edge", "canary": ""}
    assert memory["ts"] == utc(10, 1)
    assert memory["attrs"]["alertname"] == "[Memory Alert]"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "[Triggered on {host:i-3b93aafb}] Host is Down",
            ("Triggered", "host:i-3b93aafb", "Host is Down"),
        ),
        (
            "[P1] [Recovered on {env:prod,host:a}] CPU high",
            ("Recovered", "env:prod,host:a", "CPU high"),
        ),
        ("[Re-Triggered on {host:b}] Disk", ("Re-Triggered", "host:b", "Disk")),
        ("[No Data on {host:b}] Disk", ("No Data", "host:b", "Disk")),
        ("[Warn] Disk", ("Warn", "", "Disk")),
        ("Deployed v2", ("", "", "Deployed v2")),
    ],
)
def test_title_parts(title: str, expected: tuple[str, str, str]) -> None:
    assert datadog._title_parts(title) == expected


# --- malformed documents ---------------------------------------------------------------------


# --- sniff -----------------------------------------------------------------------------------

