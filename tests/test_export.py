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
