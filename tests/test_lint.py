"""``incident-timeline lint``: each of the four faults is caught with its line number, and
every draft the tool writes passes (each template, on the samples and on e2e-like inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import timeline
from tests.conftest import T0, event_row, make_dataset, request_row
from timeline.cli import ExitCode, app
from timeline.report.context import build_context
from timeline.report.lint import lint
from timeline.report.markdown import BUILTIN_TEMPLATES, render

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

CLEAN = """# Postmortem

## Timeline

- **2023-03-20 12:30:00 UTC** (T+00:00): requests fail (`lb-1/access.log:12`)
  - a nested link line needs no source of its own
- **2023-03-20T12:31:00Z**: alert (`alerts.json:3`)

| time | T+ | event | source |
|---|---|---|---|
| 12:40:00 CEST | T+10:00 | reload | `web-3/error.log:9` |

## Action Items

| action | type | owner | priority | bug |
|---|---|---|---|---|
| Canary deploys | mitigate | alice | P2 | OPS-1 |
| Alert on silence | **TODO** | **TODO** | **TODO** | **TODO** |

- Check the config before reload (type: prevent; owner: bob)
- Something else. **TODO:** owner and type.

Code is quoted evidence: `human error at 12:30` and

```
12:30:00 should have
```
"""


def test_a_clean_draft_passes() -> None:
    assert lint(CLEAN) == []


@pytest.mark.parametrize("bad, rule, line", [
    ("- **2023-03-20 12:35:00 UTC**: requests fail\n", "timeline-source", 7),
    ("| 12:41:00 UTC | T+11:00 | reload | - |\n", "timeline-source", 12),
    ("- Canary deploys (type: mitigate)\n", "action-item", 20),
    ("| Canary | mitigate | - | P1 | - |\n", "action-item", 17),
    ("It was human error.\n", "blame", 7),
    ("The on-call engineer should have seen it.\n", "blame", 7),
    ("A careless reload.\n", "blame", 7),
    ("- **2023-03-20 12:35:00**: requests fail (`lb-1/access.log:13`)\n", "time-zone", 7),
    ("The fix landed at 14:15.\n", "time-zone", 7),
])
def test_each_fault_is_caught_with_its_line(bad: str, rule: str, line: int) -> None:
    lines = CLEAN.splitlines(keepends=True)
    text = "".join(lines[:line - 1]) + bad + "".join(lines[line - 1:])
    found = lint(text)
    assert [(f.line, f.rule) for f in found] == [(line, rule)], found


def test_offsets_addresses_and_line_numbers_are_not_times() -> None:
    assert lint("T+104:54 and T-00:05; upstream 127.0.0.1:52769; 2001:db8::1; "
                "`web-1/access.log:1623`; ratio 3:1; 10:30 UTC, 10:30 +02:00, "
                "10:30 (Europe/Berlin)\n") == []


def test_cli_exits_non_zero_with_the_line_numbers(tmp_path: Path) -> None:
    draft = tmp_path / "postmortem.md"
    draft.write_text("# P\n\n## Timeline\n\n- 12:30 UTC: it broke\n\nHuman error.\n")
    result = runner.invoke(app, ["lint", str(draft)])
    assert result.exit_code == ExitCode.LINT
    assert f"{draft}:5: timeline-source:" in result.output
    assert f"{draft}:7: blame:" in result.output
    draft.write_text(CLEAN)
    assert runner.invoke(app, ["lint", str(draft)]).exit_code == 0
    assert runner.invoke(app, ["lint", str(tmp_path / "missing.md")]).exit_code == ExitCode.INPUT


def _silent_host() -> timeline.Analysis:
    """web-2 stops serving behind lb-1 for 20 minutes; a PagerDuty page is acknowledged."""
    rows = []
    for m in range(120):
        for k in range(20):
            host = "web-2" if k % 2 else "web-1"
            if host == "web-2" and 60 <= m < 80:
                continue
            rows.append(request_row(T0 + m * 60 + k * 3, f"10.0.{k}.{m % 5}", 200, host))
    ev = [event_row(T0 + 62 * 60, "alert", "", "web-2 down", parser="pagerduty",
                    source_file="pd.json", line=2,
                    attrs={"alertname": "web-2 down", "acknowledged_at": T0 + 64 * 60.0,
                           "acknowledged_line": 5}),
          event_row(T0 + 59 * 60 + 50, "reload", "web-2", "reload", line=4,
                    source_file="web-2/error.log")]
    return timeline.build(make_dataset(rows, ev))


def _hostile() -> timeline.Analysis:
    """Failures whose paths and user agents hold markup, times and blame-like words."""
    rows = []
    for m in range(90):
        for k in range(30):
            bad = 40 <= m < 60 and k < 12
            rows.append(request_row(
                T0 + m * 60 + k, f"203.0.113.{k}", 502 if bad else 200,
                path=f"/x?at=12:30&msg=human error should have `|*{k}*|`",
                ua="<script>alert(1)</script> 09:00 careless"))
    return timeline.build(make_dataset(rows))


def test_every_draft_the_tool_writes_passes() -> None:
    analyses = {d: timeline.build(timeline.read([str(ROOT / "sample_logs" / d)]))
                for d in ("seed-outage", "quiet-day")}
    analyses["window-given"] = timeline.build(
        timeline.read([str(ROOT / "sample_logs" / "seed-outage")]),
        window=(1679315400.0, 1679321700.0))
    analyses["silent-host"] = _silent_host()
    analyses["hostile"] = _hostile()
    assert analyses["silent-host"].incidents and analyses["hostile"].incidents
    for name, analysis in analyses.items():
        for tz in ("UTC", "Europe/Berlin"):
            ctx = build_context(analysis, display_tz=tz)
            for template in BUILTIN_TEMPLATES:
                assert lint(render(ctx, template)) == [], (name, tz, template)


def test_build_lints_the_draft_it_writes(tmp_path: Path) -> None:
    tpl = tmp_path / "mine.md.j2"
    tpl.write_text("# {{ title }}\n\nIt was human error at 12:30.\n")
    result = runner.invoke(app, ["build", str(ROOT / "sample_logs" / "seed-outage"), "-o",
                                 str(tmp_path / "out"), "--template", str(tpl)])
    assert result.exit_code == 0, result.output
    assert "warning: lint:" in result.output and "postmortem.md:3: blame:" in result.output
    assert "postmortem.md:3: time-zone:" in result.output
