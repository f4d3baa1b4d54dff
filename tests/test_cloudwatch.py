"""Tests of the CloudWatch parser (aws cloudwatch describe-alarm-history output)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from parsers import cloudwatch
from tests.helpers import ALERT_ATTRS, check_all_rejected, check_stats, parse_events

DATA = Path(__file__).parent / "data" / "cloudwatch"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "alerts"
CLI_EXAMPLE = SHARED / "aws-cloudwatch" / "aws-cli_examples_cloudwatch_describe-alarm-history.rst"


def utc(
    h: int, mi: int, s: int = 0, us: int = 0, day: tuple[int, int, int] = (2024, 5, 14)
) -> float:
    """Epoch seconds of a UTC wall-clock time (the samples' day unless ``day`` says)."""
    return datetime(*day, h, mi, s, us, tzinfo=UTC).timestamp()


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, cloudwatch, kinds=("alert",), attrs=ALERT_ATTRS,
              fixed={"severity": "error", "attrs.severity_raw": ""})


def item(
    name: str, stamp: str, old: str, new: str, reason: str = "r", **over: Any
) -> dict[str, Any]:
    """One StateUpdate history item, HistoryData encoded as a string as the API does."""
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old, "stateReason": "before"},
        "newState": {"stateValue": new, "stateReason": reason},
    }
    base: dict[str, Any] = {
        "AlarmName": name,
        "Timestamp": stamp,
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old} to {new}",
        "HistoryData": json.dumps(data),
    }
    base.update(over)
    return base


def write(path: Path, items: list[Any]) -> Path:
    path.write_text(json.dumps({"AlarmHistoryItems": items}, indent=4), encoding="utf-8")
    return path


def test_sample_history() -> None:
    events, stats = run(DATA / "alarm_history.json")
    check_stats(stats, (7, 4, 0, 3), variant="describe-alarm-history", skips={
        "ConfigurationUpdate history item (not a StateUpdate)": 1,
        "Action history item (not a StateUpdate)": 1,
        "transition out of ALARM whose start is not in the file": 1,
    })
    alb, cpu = events
    assert alb["attrs"]["alertname"] == "web-alb-5xx"
    assert (alb["ts"], alb["end"]) == (utc(10, 2, 5, 123000), utc(10, 41, 0, 250000))
    assert alb["attrs"]["status"] == "resolved"
    assert (alb["attrs"]["old_state"], alb["attrs"]["end_state"]) == ("OK", "OK")
    assert alb["host"] == ""
    assert alb["message"] == (
        "web-alb-5xx: Threshold Crossed: 1 datapoint [412.0 (14/05/24 10:01:00)] was greater "
        "than the threshold (50.0)."
    )
    assert alb["attrs"]["state_reason_data"]["startDate"] == "2024-05-14T10:01:00.000+0000"
    assert alb["attrs"]["end_reason"].startswith("Threshold Crossed: 1 datapoint [8.0")
    assert alb["attrs"]["alarm_type"] == "MetricAlarm"
    assert alb["line"] == 5

    assert cpu["attrs"]["alertname"] == "i-0abc12345def67890-cpu-high"
    assert (cpu["ts"], cpu["end"]) == (utc(10, 12, 30), None)
    assert cpu["attrs"]["status"] == "firing"
    assert cpu["attrs"]["old_state"] == "INSUFFICIENT_DATA"
    assert cpu["host"] == "i-0abc12345def67890"  # the instance id in the alarm name
    assert (stats.first_ts, stats.last_ts) == (utc(10, 2, 5, 123000), utc(10, 41, 0, 250000))


def test_alarm_firing_twice_and_ending_in_insufficient_data(tmp_path: Path) -> None:
    path = write(
        tmp_path / "history.json",
        [  # newest first
            item("a", "2024-05-14T10:40:00.000Z", "ALARM", "INSUFFICIENT_DATA"),
            item("a", "2024-05-14T10:30:00.000Z", "OK", "ALARM", "second"),
            item("a", "2024-05-14T10:20:00.000Z", "ALARM", "OK"),
            item("a", "2024-05-14T10:10:00.000Z", "INSUFFICIENT_DATA", "ALARM", "first"),
        ],
    )
    events, stats = run(path)
    assert stats.parsed == 4
    assert [(e["ts"], e["end"], e["attrs"]["end_state"], e["message"]) for e in events] == [
        (utc(10, 10), utc(10, 20), "OK", "a: first"),
        (utc(10, 30), utc(10, 40), "INSUFFICIENT_DATA", "a: second"),
    ]


def test_states_from_the_summary_when_history_data_is_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path / "history.json",
        [
            item("a", "2024-05-14T10:20:00Z", "ALARM", "OK", HistoryData=None),
            item("a", "2024-05-14T10:10:00Z", "OK", "ALARM", HistoryData="{not json"),
        ],
    )
    (event,), stats = run(path)
    assert (event["ts"], event["end"]) == (utc(10, 10), utc(10, 20))
    assert event["message"] == "a"  # no reason without HistoryData


def test_rejects(tmp_path: Path) -> None:
    path = write(
        tmp_path / "history.json",
        [
            item("", "2024-05-14T10:20:00Z", "OK", "ALARM"),
            item("a", "yesterday", "OK", "ALARM"),
            item("a", "2024-05-14T10:20:00Z", "OK", "ALARM", HistoryData=None, HistorySummary=""),
            item("a", "2024-05-14T10:20:00Z", "OK", "PANIC"),
            "not an object",
        ],
    )
    check_all_rejected(run(path), [
        (1, "history item has no AlarmName"),
        (2, "bad Timestamp"),
        (3, "state change without old and new state"),
        (4, "unknown state OK -> PANIC"),
        (5, "history item is not a JSON object"),
    ])


def test_bare_array_of_items(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps([item("a", "2024-05-14T10:10:00Z", "OK", "ALARM")]))
    (event,), stats = run(path)
    assert event["end"] is None and stats.variant == "describe-alarm-history"


# --- conformance against the aws-cli example in /work/shared ----------------------------------


def rst_output_json(rst: str) -> str:
    """The indented literal block that follows ``Output::`` in the aws-cli example."""
    after = rst.split("Output::", 1)[1].splitlines()[1:]
    block: list[str] = []
    for ln in after:
        if ln.strip() and not ln.startswith((" ", "\t")):
            break
        block.append(ln)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def test_aws_cli_example_is_one_span(tmp_path: Path) -> None:
    if not CLI_EXAMPLE.is_file():
        pytest.skip(f"{CLI_EXAMPLE} not found")
    rst = CLI_EXAMPLE.read_text(encoding="utf-8")
    assert not cloudwatch.sniff(rst.encode()[:16384])  # the .rst itself is not the format
    path = tmp_path / "describe-alarm-history.json"
    path.write_text(rst_output_json(rst), encoding="utf-8")
    assert cloudwatch.sniff(path.read_bytes()[:16384])

    (event,), stats = run(path)
    check_stats(stats, (2, 2, 0, 0))
    # OK -> ALARM at 18:59:05.805Z, ALARM -> OK at 18:59:06.442Z (items newest first).
    assert event["ts"] == utc(18, 59, 5, 805000, day=(2014, 4, 9))
    assert event["end"] == utc(18, 59, 6, 442000, day=(2014, 4, 9))
    assert event["attrs"]["alertname"] == "myalarm"
    assert event["attrs"]["status"] == "resolved"
    assert event["message"] == "myalarm: testing purposes"
    assert event["attrs"]["end_reason"].startswith("Threshold Crossed: 2 datapoints")
    assert event["line"] == 2
