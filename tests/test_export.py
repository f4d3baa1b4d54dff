"""The JSON-export toolkit (parsers/export.py), as each export format uses it: a broken
document is one ParseError of one line, a document of another format names what was
expected."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from parsers import alertmanager, changes, cloudwatch, datadog, grafana, opsgenie, pagerduty
from tests.helpers import parse_error

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("module", "sample", "cut"),
    [
        (grafana, "grafana/state_history.json", 700),
        (pagerduty, "pagerduty/incidents.json", 900),
        (opsgenie, "opsgenie/alerts_list.json", 500),
        (datadog, "datadog/webhook_default.json", 300),
        (cloudwatch, "cloudwatch/alarm_history.json", 800),
        (changes, "changes/changes.json", 150),
    ],
    ids=lambda v: v.NAME if isinstance(v, ModuleType) else "",
)
def test_truncated_document_raises_one_line_parse_error(
    tmp_path: Path, module: ModuleType, sample: str, cut: int
) -> None:
    path = tmp_path / Path(sample).name
    path.write_bytes((DATA / sample).read_bytes()[:cut])
    assert parse_error(module, path).startswith(f"{path}: not valid JSON: ")


@pytest.mark.parametrize(
    ("module", "text", "expected"),
    [
        (alertmanager, '{"foo": 1}', "JSON is not an Alertmanager"),
        (grafana, '{"incidents": [{"id": "Q1"}]}',
         "JSON is not a Grafana webhook payload or alert state history"),
        (pagerduty, '{"users": [], "limit": 25}', "JSON is not a PagerDuty API answer"),
        (opsgenie, '{"incidents": []}', "JSON is not an Opsgenie webhook payload"),
        (datadog, '[{"time": "2024-05-14T10:00:00Z", "kind": "deploy"}]',
         "JSON is not a Datadog webhook notification"),
        # describe-alarms, not describe-alarm-history
        (cloudwatch, '{"MetricAlarms": [], "CompositeAlarms": []}',
         "JSON is not CloudWatch alarm history"),
    ],
    ids=lambda v: v.NAME if isinstance(v, ModuleType) else "",
)
def test_json_of_another_kind_raises_parse_error(
    tmp_path: Path, module: ModuleType, text: str, expected: str
) -> None:
    path = tmp_path / "other.json"
    path.write_text(text)
    assert parse_error(module, path).startswith(f"{path}: {expected}")


# --- sniff -----------------------------------------------------------------------------------
# Every sample is recognised by its own parser only (tests/test_sniff_matrix.py); here, a
# head cut mid-JSON still sniffs, and heads near a format are not taken for it.

#: How far into its samples each export is still recognised.
CUTS = {alertmanager: 1500, grafana: 1200, pagerduty: 600, opsgenie: 700, datadog: 300,
        cloudwatch: 100, changes: 120}
SAMPLES = [pytest.param(module, path, id=f"{module.NAME}/{path.name}")
           for module in CUTS for path in sorted((DATA / module.NAME).iterdir())
           if path.name not in ("README.md", "truncated_payload.json")]

#: Heads that no export takes: nothing, JSON of no format, Nginx access and error lines.
FOREIGN = [
    b"",
    b'{"foo": 1}',
    b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET /api/cart HTTP/1.1" 502 157 '
    b'"-" "Mozilla/5.0" "-"\n',
    b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1" 502 157 "-" "curl"\n',
    b"2023/03/20 12:30:01 [error] 1234#0: *5 connect() failed (111: Connection refused)\n",
]

#: Heads close to a format that are not it.
NEAR_MISSES = [
    (alertmanager, b"[1, 2, 3]"),
    # An object carrying alert-ish keys but no container keys.
    (alertmanager, b'{"labels": {"a": "b"}, "startsAt": "2024-05-14T10:00:00Z"}'),
    # PagerDuty-like JSON: no startsAt/labels.
    (alertmanager, b'{"incidents": [{"title": "x", "created_at": "2024-05-14T10:00:00Z"}]}'),
    # An annotation list without newState/prevState/alertId keys.
    (grafana, b'[{"id": 1, "dashboardId": 3, "time": 1, "text": "deploy", "tags": []}]'),
    (pagerduty, b"time,kind,description\n2024-05-14T10:00:00Z,deploy,v2\n"),
    (pagerduty, b"id,name,created_at\n1,x,2024\n"),  # no urgency or status column
    (opsgenie, b'{"data": {"id": 1, "name": "x"}}'),  # another API's "data" wrapper
    (datadog, b'{"title": "x", "date": "1"}'),  # too little to tell
    (cloudwatch, b'{"MetricAlarms": []}'),  # describe-alarms
    (changes, b"time,kind\n2024,deploy\n"),
    (changes, b"id,incident_number,title,status,urgency,created_on\n"),
    (changes, b'{"time": 1, "kind": "deploy"}'),
]


@pytest.mark.parametrize(("module", "path"), SAMPLES)
def test_sniff_accepts_a_cut_head(module: ModuleType, path: Path) -> None:
    assert module.sniff(path.read_bytes()[: CUTS[module]])


@pytest.mark.parametrize("module", CUTS, ids=lambda m: m.NAME)
@pytest.mark.parametrize("head", FOREIGN)
def test_sniff_refuses_what_no_export_is(module: ModuleType, head: bytes) -> None:
    assert not module.sniff(head)


@pytest.mark.parametrize(("module", "head"), NEAR_MISSES,
                         ids=lambda v: v.NAME if isinstance(v, ModuleType) else "")
def test_sniff_refuses_near_misses(module: ModuleType, head: bytes) -> None:
    assert not module.sniff(head)
