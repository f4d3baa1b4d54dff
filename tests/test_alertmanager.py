"""Tests of the Alertmanager parser (webhook payloads, JSON lines, API v2 lists)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from parsers import alertmanager, export
from parsers.base import BadLineError, ParseError
from tests.helpers import parse_error, parse_events

DATA = Path(__file__).parent / "data" / "alertmanager"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "alerts"
SHARED_AM = SHARED / "prometheus-alertmanager"
ZERO = "0001-01-01T00:00:00Z"


def utc(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int) -> float:
    """Epoch seconds of a UTC wall-clock time."""
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC).timestamp()


#: Parse a file as the CLI does and check the bookkeeping invariant and every event.
run = partial(parse_events, alertmanager, kinds=("alert",),
              attrs=("alertname", "status", "labels", "severity_raw"))


def by_name(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["attrs"]["alertname"]: e for e in events}


def write_json_lines(path: Path, docs: list[Any]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def alert(**over: Any) -> dict[str, Any]:
    """A minimal webhook alert; keyword arguments replace fields (None removes one)."""
    base: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "UpstreamSlow", "instance": "lb-1:9113", "severity": "warning"},
        "annotations": {"summary": "p99 above 2s"},
        "startsAt": "2024-05-14T10:00:00Z",
        "endsAt": ZERO,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "1111222233334444",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def payload(*alerts: Any, status: str = "firing") -> dict[str, Any]:
    return {
        "receiver": "ops",
        "status": status,
        "alerts": list(alerts),
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
    }


# --- (1) webhook v4 JSON lines --------------------------------------------------------


def test_webhook_json_lines_merges_firing_and_resolved() -> None:
    events, stats = run(DATA / "webhook_v4.jsonl")

    # 2 + 2 alert records in the good payloads, 1 record for the torn line 2.
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (5, 4, 1, 0)
    assert stats.variant == "webhook v4"
    assert [(r.line, r.reason.split(":")[0]) for r in stats.rejects] == [(2, "not valid JSON")]
    assert len(events) == 2
    assert [e["attrs"]["alertname"] for e in events] == ["Watchdog", "HighErrorRate"]

    her = by_name(events)["HighErrorRate"]
    assert her["ts"] == utc(2024, 5, 14, 9, 58, 30, 123456)  # ns cut to µs
    assert her["end"] == utc(2024, 5, 14, 10, 12, 45, 678901)
    assert her["kind"] == "alert"
    assert her["severity"] == "critical"
    assert her["host"] == "lb-1:9113"
    assert her["message"] == "HighErrorRate: 5xx ratio above 5% on lb-1:9113"
    assert her["count"] == 1
    assert her["line"] == 1
    attrs = her["attrs"]
    assert attrs["status"] == "resolved"
    assert attrs["fingerprint"] == "c2e5a1d0f3b47a96"
    assert attrs["receiver"] == "ops-webhook"
    assert attrs["group_key"] == '{}:{cluster="prod"}'
    assert attrs["labels"]["job"] == "nginx"
    assert attrs["annotations"]["runbook_url"] == "https://runbooks.example.com/HighErrorRate"
    assert attrs["generator_url"].startswith("http://prometheus.example.com:9090/graph?")
    assert "ends_at_estimate" not in attrs
    # The resolving notification (line 3, after the torn line 2) is where the end is cited.
    assert her["line"] == 1 and attrs["end_line"] == 3
    # The sample is the first (firing) notification, compact and key-sorted.
    assert her["sample"].startswith('{"annotations":{"description":"12.4% of requests')
    assert f'"endsAt":"{ZERO}"' in her["sample"]

    watchdog = by_name(events)["Watchdog"]
    assert watchdog["ts"] == utc(2024, 5, 13, 10, 0, 12, 345678)
    assert watchdog["end"] is None
    assert watchdog["severity"] == "info"
    assert watchdog["attrs"]["severity_raw"] == "none"
    assert watchdog["attrs"]["status"] == "firing"
    assert watchdog["host"] == ""

    assert stats.first_ts == watchdog["ts"] and stats.last_ts == her["ts"]
    assert any("merged" in note for note in stats.notes)


def test_webhook_json_lines_bad_line_error_mode() -> None:
    with pytest.raises(BadLineError, match=r"webhook_v4\.jsonl:2: not valid JSON"):
        run(DATA / "webhook_v4.jsonl", on_bad_lines="error")


# --- (2) webhook v3 -------------------------------------------------------------------


def test_webhook_v3_single_payload() -> None:
    events, stats = run(DATA / "webhook_v3.json")

    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (2, 2, 0, 0)
    assert stats.variant == "webhook v3"
    disk, nginx = events  # sorted by ts
    # +02:00 offsets converted to UTC.
    assert disk["ts"] == utc(2017, 6, 2, 11, 40, 0, 0)
    assert disk["end"] == utc(2017, 6, 2, 12, 5, 40, 100000)
    assert disk["attrs"]["status"] == "resolved"
    assert disk["host"] == "web-2"  # from the host label (no instance)
    assert disk["severity"] == "warning"
    assert disk["line"] == 2
    assert nginx["ts"] == utc(2017, 6, 2, 12, 3, 10, 514000)
    assert nginx["end"] is None
    assert nginx["severity"] == "critical"  # "page"
    assert nginx["attrs"]["severity_raw"] == "page"
    assert nginx["message"] == (
        "NginxDown: nginx exporter on web-2:9113 has been unreachable for 1 minute."
    )
    for e in events:
        # v3 predates groupKey and per-alert fingerprints.
        assert e["attrs"]["group_key"] == "" and e["attrs"]["fingerprint"] == ""
        assert e["attrs"]["receiver"] == "team-web"


# --- (3) API v2 alerts list ---------------------------------------------------------------


def test_api_v2_alerts_list() -> None:
    events, stats = run(DATA / "api_v2_alerts.json")

    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (3, 3, 0, 0)
    assert stats.variant == "api v2 alerts"
    named = by_name(events)
    assert set(named) == {"HighErrorRate", "NginxUpstreamDown", "NodeDiskPressure"}
    for e in events:
        # Active alerts: endsAt is updatedAt + resolve_timeout, not an end.
        assert e["end"] is None
        assert e["attrs"]["ends_at_estimate"].startswith("2024-05-14T10:06:3")

    her = named["HighErrorRate"]
    assert her["ts"] == utc(2024, 5, 14, 9, 58, 30, 123000)
    assert her["attrs"]["status"] == "active"
    assert (her["attrs"]["silenced"], her["attrs"]["inhibited"]) == (False, False)
    assert her["attrs"]["receiver"] == "ops-webhook, pagerduty"
    assert her["attrs"]["ends_at_estimate"] == "2024-05-14T10:06:30.456Z"

    silenced = named["NginxUpstreamDown"]
    assert silenced["attrs"]["status"] == "suppressed"
    assert (silenced["attrs"]["silenced"], silenced["attrs"]["inhibited"]) == (True, False)

    inhibited = named["NodeDiskPressure"]
    assert inhibited["attrs"]["status"] == "suppressed"
    assert (inhibited["attrs"]["silenced"], inhibited["attrs"]["inhibited"]) == (False, True)
    assert inhibited["severity"] == "error"  # "major"
    assert inhibited["host"] == "ip-10-0-3-17"  # node label
    assert inhibited["message"] == "NodeDiskPressure: Node ip-10-0-3-17 reports disk pressure."


def test_api_v2_empty_list_is_an_empty_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_text("[]\n")
    events, stats = run(path)
    assert events == [] and stats.lines == 0 and stats.variant == "api v2 alerts"


# --- (4) malformed documents -----------------------------------------------------------


def test_truncated_document_raises_one_line_parse_error() -> None:
    path = DATA / "truncated_payload.json"
    msg = parse_error(alertmanager, path)
    assert msg.startswith(f"{path}: not valid JSON: ")
    assert msg.endswith("at line 20 column 1")


def test_invalid_utf8_document(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"alerts": [], "receiver": "\xff"}')
    with pytest.raises(ParseError, match=r"bad\.json: not valid JSON: invalid UTF-8 at byte 28"):
        run(path)


# --- (5) sniff ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        json.dumps([payload(alert())]).encode(),  # an array of payloads
        b"\xef\xbb\xbf  \n" + json.dumps(payload(alert())).encode(),  # BOM, leading space
        json.dumps(
            [{"labels": {"a": "b"}, "receiver": {"name": "x"}, "alerts": [alert()]}]
        ).encode(),  # /api/v2/alerts/groups
    ],
)
def test_sniff_true(head: bytes) -> None:
    assert alertmanager.sniff(head)


# --- merging, rejects and skips -----------------------------------------------------------


def test_refiring_after_resolve_stays_a_separate_event(tmp_path: Path) -> None:
    first = "2024-05-14T10:00:00Z"
    second = "2024-05-14T11:00:00Z"
    path = write_json_lines(
        tmp_path / "am.jsonl",
        [
            payload(alert(startsAt=first)),
            payload(alert(startsAt=first, status="resolved", endsAt="2024-05-14T10:05:00Z")),
            payload(alert(startsAt=second)),
        ],
    )
    events, stats = run(path)
    assert stats.parsed == 3
    assert [(e["ts"], e["end"], e["attrs"]["status"], e["line"]) for e in events] == [
        (utc(2024, 5, 14, 10, 0, 0, 0), utc(2024, 5, 14, 10, 5, 0, 0), "resolved", 1),
        (utc(2024, 5, 14, 11, 0, 0, 0), None, "firing", 3),
    ]


def test_merge_by_labels_when_there_is_no_fingerprint(tmp_path: Path) -> None:
    labels = {"severity": "warning", "alertname": "UpstreamSlow"}
    path = write_json_lines(
        tmp_path / "am.jsonl",
        [
            payload(alert(fingerprint=None, labels=labels)),
            payload(
                alert(
                    fingerprint=None,
                    labels=dict(reversed(labels.items())),
                    status="resolved",
                    endsAt="2024-05-14T11:05:00.5+01:00",
                )
            ),
        ],
    )
    (event,), _ = run(path)
    assert event["end"] == utc(2024, 5, 14, 10, 5, 0, 500000)
    assert event["attrs"]["status"] == "resolved"
    assert event["host"] == ""


def test_rejects_and_skips(tmp_path: Path) -> None:
    path = write_json_lines(
        tmp_path / "am.jsonl",
        [
            payload(
                alert(),
                alert(startsAt=None),
                alert(labels={}),
                alert(startsAt="yesterday"),
                alert(endsAt="soon"),
                "not an object",
            ),
            {"level": "info", "msg": "webhook receiver started"},  # the receiver's own log
        ],
    )
    events, stats = run(path)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (7, 1, 5, 1)
    assert [r.reason for r in stats.rejects] == [
        "alert has no startsAt",
        "alert has no labels",
        "bad startsAt",
        "bad endsAt",
        "alert is not a JSON object",
    ]
    assert all(r.line == 1 for r in stats.rejects)
    assert stats.skip_reasons == {"JSON line that is not an Alertmanager payload": 1}
    assert len(events) == 1


def test_document_records_are_numbered_from_one(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_text(
        json.dumps(
            [
                payload(alert(), alert(labels=None)),
                payload(alert(fingerprint="ff", labels={"a": "b"})),
            ]
        )
    )
    events, stats = run(path)
    assert [r.line for r in stats.rejects] == [2]
    assert sorted(e["line"] for e in events) == [1, 3]


def test_firing_alert_with_real_ends_at_is_an_estimate(tmp_path: Path) -> None:
    # Older Alertmanagers sent the resolve-timeout estimate in endsAt of firing alerts.
    path = write_json_lines(tmp_path / "am.jsonl", [payload(alert(endsAt="2024-05-14T10:05:00Z"))])
    (event,), _ = run(path)
    assert event["end"] is None
    assert event["attrs"]["ends_at_estimate"] == "2024-05-14T10:05:00Z"


def test_sample_is_cut_at_500_characters(tmp_path: Path) -> None:
    long = alert(annotations={"description": "x" * 2000})
    path = write_json_lines(tmp_path / "am.jsonl", [payload(long)])
    (event,), _ = run(path)
    assert len(event["sample"]) == 500
    assert event["sample"].startswith('{"annotations":{"description":"xxx')
    assert event["message"] == "UpstreamSlow: " + "x" * 2000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("critical", "critical"),
        ("PAGE", "critical"),
        ("p1", "critical"),
        ("emergency", "critical"),
        ("high", "error"),
        ("p2", "error"),
        ("Warn", "warning"),
        ("medium", "warning"),
        ("p3", "warning"),
        ("low", "info"),
        ("p5", "info"),
        ("none", "info"),
        ("whatever", "info"),
        (None, "info"),
    ],
)
def test_severity_normalisation(tmp_path: Path, raw: str | None, expected: str) -> None:
    labels = {"alertname": "A"} | ({"severity": raw} if raw is not None else {})
    path = write_json_lines(tmp_path / "am.jsonl", [payload(alert(labels=labels))])
    (event,), _ = run(path)
    assert event["severity"] == expected
    assert event["attrs"]["severity_raw"] == (raw or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-09-27T16:27:56.612666101Z", utc(2019, 9, 27, 16, 27, 56, 612666)),
        ("2018-03-07T06:33:21.873077559-05:00", utc(2018, 3, 7, 11, 33, 21, 873077)),
        ("2026-03-11T12:48:38.413Z", utc(2026, 3, 11, 12, 48, 38, 413000)),
        ("2024-02-29T23:59:59+05:30", utc(2024, 2, 29, 18, 29, 59, 0)),
        ("2024-05-14T10:00:00.5+0000", utc(2024, 5, 14, 10, 0, 0, 500000)),
        ("20240514T100000Z", utc(2024, 5, 14, 10, 0, 0, 0)),  # dateutil fallback
        (ZERO, None),
    ],
)
def test_parse_rfc3339(text: str, expected: float | None) -> None:
    assert export.parse_rfc3339(text) == expected


@pytest.mark.parametrize("text", ["soon", "2024-13-01T00:00:00Z", ""])
def test_parse_rfc3339_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        export.parse_rfc3339(text)


# --- (6) conformance against the real samples in /work/shared -------------------------------

SHARED_JSON = sorted(SHARED_AM.glob("*.json")) if SHARED_AM.is_dir() else []


@pytest.mark.parametrize("path", SHARED_JSON or [None], ids=lambda p: p.name if p else "absent")
def test_shared_samples_conform(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"shared alert samples not found under {SHARED}")
    assert alertmanager.sniff(path.read_bytes()[:16384])
    events, stats = run(path)
    assert stats.rejected == 0 and stats.skipped == 0
    assert stats.parsed == stats.lines > 0
    assert events and all(isinstance(e["ts"], float) for e in events)

    if path.name.startswith("karma_"):
        # PROVENANCE.md: 10 groups, 24 gettableAlert objects, 16 active + 8 suppressed.
        groups = json.loads(path.read_bytes())
        states = Counter(a["status"]["state"] for g in groups for a in g["alerts"])
        assert states == {"active": 16, "suppressed": 8}
        assert stats.lines == 24 and stats.variant == "api v2 alert groups"
        # Every alert sits in two groups (routes by-name and by-cluster-service): one event
        # per fingerprint, with both receivers.
        assert len(events) == 12
        assert Counter(e["attrs"]["status"] for e in events) == {"active": 8, "suppressed": 4}
        assert all(e["attrs"]["silenced"] for e in events if e["attrs"]["status"] == "suppressed")
        assert {e["attrs"]["receiver"] for e in events} == {"by-cluster-service, by-name"}
        assert all(e["end"] is None and "ends_at_estimate" in e["attrs"] for e in events)
    elif path.name.startswith("prometheus-msteams_"):
        (event,) = events
        # 2018-03-07T06:33:21.873077559-05:00
        assert event["ts"] == utc(2018, 3, 7, 11, 33, 21, 873077)
        assert event["attrs"]["status"] == "firing"  # no per-alert status: from endsAt
        assert stats.variant == "webhook v4"
    elif path.name.startswith("dingtalk_"):
        assert stats.variant == "webhook v3" and len(events) == 2


def test_shared_markdown_is_not_sniffed_and_its_payloads_merge(tmp_path: Path) -> None:
    md = SHARED_AM / "alertmonitor_docs_testing_Testing.md"
    if not md.is_file():
        pytest.skip(f"{md} not found")
    text = md.read_bytes()
    assert not alertmanager.sniff(text[:16384])
    # Its two one-line payloads (firing, then "resolved") as a receiver would log them.
    lines = [ln for ln in text.splitlines(keepends=True) if ln.startswith(b"{")]
    assert len(lines) == 2
    path = tmp_path / "alertmonitor.jsonl"
    path.write_bytes(b"".join(lines))
    events, stats = run(path)
    assert (stats.lines, stats.parsed) == (6, 6)
    assert len(events) == 3
    for e in events:
        # The resolved payload keeps the zero endsAt (PROVENANCE caveat): resolved, no end.
        assert e["attrs"]["status"] == "resolved" and e["end"] is None
        assert e["severity"] == "error"  # "major"
        assert e["ts"] == utc(2019, 9, 27, 16, 27, 56, 612666)
    assert [e["host"] for e in events] == ["172.29.254.30", "172.29.254.50", "172.29.254.66"]
