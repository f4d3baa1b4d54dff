"""Issue 14, the input side: odd, broken and hostile files are read, rejected with a reason
or listed as skipped with one; never a crash, never silently lost or counted twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import parsers
from parsers import alertmanager, changes, datadog, grafana, opsgenie, pagerduty
from parsers.base import ParseError, ParseOptions, ParseStats
from timeline.cli import ExitCode, app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
DATA = Path(__file__).parent / "data"

runner = CliRunner()


def _seed_copy(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    shutil.copytree(SEED, d)
    return d


def _build(*args: str) -> Any:
    return runner.invoke(app, ["build", *args, "-q"])


def _sources(out: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((out / "timeline.json").read_text())
    return {Path(s["path"]).name if "/" in s["path"] else s["path"]: s for s in doc["sources"]}


def _parse(module: Any, data: bytes, **opts: Any) -> tuple[list[dict[str, Any]], ParseStats]:
    stats = ParseStats()
    events = [e for chunk in module.parse([data], stats, ParseOptions(display_path="f", **opts))
              for e in chunk]
    stats.check()
    return events, stats


# --- group 3: a file no parser recognises is skipped, never fatal ---------------------------


@pytest.mark.parametrize("content", [
    b"a\rb,c\n",                                   # the 6-byte notes.txt
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\r\n\x00\xff",  # gzip data without .gz
    b"\x7fELF\x02\x01\x01\x00\r\x00\x00core",     # a core dump's first bytes
    b"time,kind\rdescription\n1,deploy,x\n",
])
def test_unrecognised_file_with_carriage_return_is_skipped(tmp_path: Path,
                                                           content: bytes) -> None:
    d = _seed_copy(tmp_path)
    (d / "web-1" / "notes.txt").write_bytes(content)
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output
    notes = _sources(tmp_path / "o")["notes.txt"]
    assert notes["format"] == "unknown"
    assert any("not a recognised format" in n for n in notes["notes"])


def test_change_sniffer_survives_carriage_return_in_the_first_line() -> None:
    assert changes.sniff(b"a\rb,c\n") is False
    assert parsers.sniff(b"a\rb,c\n") is None


# --- group 8: CSV fields over 128 KiB, type-fuzzed alert and change files -------------------


def test_csv_field_over_128_kib_is_read(tmp_path: Path) -> None:
    big = "x" * (200 << 10)
    data = (f"time,kind,description\n2023-03-20T12:00:00Z,deploy,{big}\n"
            "2023-03-20T12:01:00Z,deploy,small\n").encode()
    events, stats = _parse(changes, data)
    assert stats.parsed == 2 and len(events) == 2


def test_csv_field_over_the_line_cap_is_rejected_with_the_option() -> None:
    data = (b"time,kind,description\n2023-03-20T12:00:00Z,deploy," + b"x" * 5000
            + b"\n2023-03-20T12:01:00Z,deploy,small\n")
    events, stats = _parse(changes, data, max_line_bytes=4096)
    assert stats.parsed == 1 and stats.rejected == 1
    assert "--max-line-bytes" in stats.rejects[0].reason


def test_pagerduty_csv_field_over_128_kib() -> None:
    data = (b"id,title,created_on,status\nP1," + b"t" * (200 << 10)
            + b",2023-03-20T12:00:00Z,resolved\n")
    events, stats = _parse(pagerduty, data)
    assert stats.parsed == 1


def _first(path: Path) -> Any:
    text = path.read_text()
    try:
        return json.loads(text)
    except ValueError:
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


def _mutated(name: str, path: tuple[Any, ...], value: Any) -> bytes:
    """A sample export of ``tests/data`` with the field at ``path`` set to ``value``."""
    doc = json.loads((DATA / name).read_text())
    cur = doc
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("module", "name", "path", "value"), [
    # The cases: PagerDuty "acknowledgements": 5, Opsgenie "tags": 1.5 or
    # Infinity, Grafana "alertId": {}, "time": 1e30 in changes, Datadog "date": 1e30.
    (pagerduty, "pagerduty/incident.json", ("incident", "acknowledgements"), 5),
    (opsgenie, "opsgenie/alert_get.json", ("data", "tags"), 1.5),
    (opsgenie, "opsgenie/alert_get.json", ("data", "tags"), float("inf")),
    (opsgenie, "opsgenie/alert_get.json", ("data", "report", "ackTime"), float("inf")),
    (grafana, "grafana/state_history.json", (0, "alertId"), {}),
    (grafana, "grafana/state_history.json", (0, "alertId"), [1]),
    (datadog, "datadog/webhook_default.json", (0, "date"), 1e30),
    (changes, "changes/changes.json", (0, "time"), 1e30),
    (changes, "changes/changes.json", (0, "time"), float("nan")),
])
def test_type_fuzzed_exports_are_rejected_not_crashed(module: Any, name: str,
                                                      path: tuple[Any, ...], value: Any) -> None:
    data = _mutated(name, path, value)
    assert parsers.sniff(data[:parsers.SNIFF_BYTES]) is module
    try:
        _parse(module, data)
    except ParseError:
        pass  # a one-line error naming the file is fine; a TypeError is not


def test_time_out_of_range_is_rejected_with_a_reason() -> None:
    doc = [{"date": 1e30, "last_updated": "1e30", "event_type": "query_alert_monitor",
            "title": "[Triggered] x", "body": "b", "id": "1"}]
    events, stats = _parse(datadog, json.dumps(doc).encode())
    assert events == [] and stats.rejected == 1
    assert "out of range" in stats.rejects[0].reason


@pytest.mark.parametrize("value", ["1e30", "Infinity", "-Infinity", "NaN"])
def test_build_with_an_absurd_alert_time_gives_a_report(tmp_path: Path, value: str) -> None:
    d = _seed_copy(tmp_path)
    text = (DATA / "datadog" / "webhook_default.json").read_text()
    (d / "alertmanager" / "dd.json").write_text(
        text.replace('"date": "1715681100000"', f'"date": {value}', 1))
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output


# --- group 11 (parse level): deep JSON, alerts ending before they start --------------------


def test_100k_deep_json_is_named_as_such(tmp_path: Path) -> None:
    p = tmp_path / "alerts.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    res = _build(str(p), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.UNRECOGNISED
    assert "nested" in res.output and "not a recognised format" not in res.output


def test_100k_deep_alert_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "alerts.json"
    p.write_text('{"receiver":"r","version":"4","alerts":[{"startsAt":"2024-01-01T00:00:00Z",'
                 '"labels":{"a":"b"}}],"x":' + "[" * 100_000 + "]" * 100_000 + "}")
    res = _build(str(p), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.BAD_DATA, res.output
    assert "nested 100001 levels deep" in res.output
    assert "internal error" not in res.output


def test_alert_ending_before_it_started_is_flagged_not_resolved() -> None:
    doc = {"receiver": "r", "version": "4", "status": "resolved", "alerts": [{
        "status": "resolved", "labels": {"alertname": "A"},
        "startsAt": "2023-03-20T12:00:00Z", "endsAt": "2020-01-01T00:00:00Z"}]}
    events, stats = _parse(alertmanager, json.dumps(doc).encode())
    (ev,) = events
    assert ev["end"] is None
    assert ev["attrs"]["end_before_start"] == "2020-01-01T00:00:00Z"
    assert any("before" in n and "started" in n for n in stats.notes)
    assert stats.first_ts == stats.last_ts == ev["ts"]
