"""The harness's evidence check (``check_evidence``) on the bundled seed outage: fast, no
Nginx. Every ``file:line`` a report cites must be the line that shows its claim."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ROOT, check_evidence

SEED = "sample_logs/seed-outage"


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``python -m timeline build sample_logs/seed-outage -o <tmp>``'s timeline.json."""
    out = tmp_path_factory.mktemp("seed-report")
    subprocess.run(
        [sys.executable, "-m", "timeline", "build", SEED, "-o", str(out), "--quiet"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads((out / "timeline.json").read_text())
    return report


def test_seed_report_cites_lines_that_show_its_claims(seed_report: dict[str, Any]) -> None:
    """The seed report's start cites a failing request (it once cited lb-1/access.log:1622,
    a 200), its reload a reload line, its errors lines with the error."""
    assert check_evidence(seed_report, ROOT) == []


def _entry(report: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e for e in report["incidents"][0]["timeline"] if e["kind"] == kind)


def test_check_evidence_catches_wrong_lines(seed_report: dict[str, Any]) -> None:
    """The checker itself: a start on a 200, a reload on the helper's "signal process
    started", an error cited on a line past the end, evidence that says "reload on" a
    connect() error, are each one problem; the right lines are none."""
    good = copy.deepcopy(seed_report)
    _entry(good, "start")["source"] = f"{SEED}/lb-1/access.log:1623"  # a 502
    _entry(good, "reload")["source"] = f"{SEED}/web-3/error.log:9"  # SIGHUP ... reconfiguring
    good["incidents"][0]["causes"][0]["evidence"] = [
        f"reload on web-3 at {SEED}/web-3/error.log:10",
        "lb-1: “connect() failed (<n>: Connection refused) while connecting to upstream” "
        f"×830 (upstream 127.0.0.1:52769), first at {SEED}/lb-1/error.log:8",
    ]
    assert [p for p in check_evidence(good, ROOT) if "start" in p or "reload" in p] == []

    bad = copy.deepcopy(good)
    _entry(bad, "start")["source"] = f"{SEED}/lb-1/access.log:1622"  # a 200
    _entry(bad, "reload")["source"] = f"{SEED}/web-3/error.log:8"  # signal process started
    _entry(bad, "upstream_refused")["source"] = f"{SEED}/lb-1/error.log:999999"
    bad["incidents"][0]["causes"][0]["evidence"] = [
        f"reload on web-3 at {SEED}/lb-1/error.log:8",
        "lb-1: “connect() failed (<n>: Connection refused) while connecting to upstream” "
        f"first at {SEED}/web-3/error.log:9",
    ]
    problems = check_evidence(bad, ROOT)
    new = [p for p in problems if p not in check_evidence(good, ROOT)]
    assert len(new) == 5, new
    assert any("start" in p and "status 200" in p for p in new)
    assert any("reload cites" in p for p in new)
    assert any("past the end" in p for p in new)
    assert any("cited as a reload" in p for p in new)
    assert any("quotes" in p for p in new)


def test_check_evidence_reads_gz_pieces(tmp_path: Path, seed_report: dict[str, Any]) -> None:
    """A ``.gz`` piece is cited by its decompressed line numbers."""
    import gzip

    src = ROOT / SEED / "lb-1" / "access.log"
    gz = tmp_path / "lb-1" / "access.log.1.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(src.read_bytes()))
    report = copy.deepcopy(seed_report)
    report["incidents"][0]["timeline"] = [
        {"kind": "start", "source": f"{gz}:1623", "text": "", "host": None},
        {"kind": "end", "source": f"{gz}:1622", "text": "", "host": None},
    ]
    report["incidents"][0]["causes"] = []
    problems = check_evidence(report, ROOT)
    assert len(problems) == 1 and "end cites" in problems[0], problems
