"""Every supported alert export shows up in the report: timeline, chart, time to detect."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

import timeline
from tests.conftest import request_row
from timeline.ingest import SourceReport, dataset_from_rows
from timeline.report.chart import chart_data

DATA = Path(__file__).parent / "data"
EXPORTS = [
    DATA / "alertmanager" / "webhook_v4.jsonl",
    DATA / "grafana" / "webhook.jsonl",
    DATA / "grafana" / "state_history.json",
    DATA / "pagerduty" / "incidents.json",
    DATA / "pagerduty" / "incidents.csv",
    DATA / "opsgenie" / "webhook.jsonl",
    DATA / "datadog" / "webhook_default.json",
    DATA / "cloudwatch" / "alarm_history.json",
]


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_export_alert_in_timeline_chart_and_detection(export: Path) -> None:
    read = timeline.read([str(export)])
    events = read.events
    alerts = events[(events["kind"] == "alert")
                    & ~events["message"].str.contains("Watchdog", case=False)]
    assert not alerts.empty
    fired = float(alerts["ts"].min())
    # Logs with an outage that starts 60 s before the export's first alert.
    rnd = random.Random(3)
    start = fired - 60
    rows = []
    for i in range(4 * 3600 // 2):
        ts = start - 7200 + i * 2 + rnd.random()
        user = f"198.51.100.{rnd.randrange(1, 250)}"
        failing = start <= ts <= start + 1800 and rnd.random() < 0.5
        rows.append(request_row(ts, user, 502 if failing else 200, line=i + 1))
    data = dataset_from_rows(pd.DataFrame(rows), events,
                             [SourceReport("access.log", "nginx_access", "lb-1"),
                              *read.sources])
    analysis = timeline.build(data)
    assert len(analysis.incidents) == 1
    inc = analysis.incidents[0]
    assert inc.first_alert is not None
    assert inc.time_to_detect_s == pytest.approx(fired - inc.start, abs=1)
    assert any(e.kind == "alert_firing" for e in inc.timeline)
    assert chart_data(analysis).alerts
    md = timeline.to_markdown(analysis)
    assert "Detected by automated monitoring" in md


def test_deploy_from_a_change_file_is_a_possible_trigger(tmp_path: Path) -> None:
    changes = tmp_path / "changes.csv"
    changes.write_text("time,kind,description,host,author\n"
                       "2023-03-20T12:28:00Z,release,shop v2.3.1 to production,lb-1,ci-bot\n")
    read = timeline.read([str(changes)])
    start = 1679315400.0  # 2023-03-20 12:30:00 UTC
    rnd = random.Random(5)
    rows = []
    for i in range(3 * 3600 // 2):
        ts = start - 5400 + i * 2 + rnd.random()
        failing = start <= ts <= start + 1200 and rnd.random() < 0.4
        rows.append(request_row(ts, f"203.0.113.{rnd.randrange(1, 250)}",
                                500 if failing else 200, line=i + 1))
    data = dataset_from_rows(pd.DataFrame(rows), read.events,
                             [SourceReport("access.log", "nginx_access", "lb-1"),
                              *read.sources])
    inc = timeline.build(data).incidents[0]
    deploys = [e for e in inc.timeline if e.kind == "deploy"]
    assert deploys and deploys[0].flag == "possible trigger"
    assert "shop v2.3.1" in deploys[0].text and "ci-bot" in deploys[0].text
    assert inc.causes[0].kind == "config_change"
