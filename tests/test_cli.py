"""The CLI end to end on the bundled samples: golden postmortem, JSON contract, errors."""

from __future__ import annotations

import bz2
import difflib
import gzip
import json
import lzma
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from timeline.cli import ExitCode, app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
QUIET = ROOT / "sample_logs" / "quiet-day"
GOLDEN = Path(__file__).parent / "golden"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")

runner = CliRunner()


def _build(tmp_path: Path, *paths: Path, args: tuple[str, ...] = ()) -> Path:
    out = tmp_path / "report"
    # Relative paths, as a user would type them: they appear in the report.
    rel = [os.path.relpath(p, ROOT) for p in paths]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = runner.invoke(app, ["build", *rel, "-o", str(out), *args])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("seed"), SEED)


def test_seed_outage_matches_the_known_postmortem(seed_report: Path) -> None:
    doc = json.loads((seed_report / "timeline.json").read_text())
    assert len(doc["incidents"]) == 1
    inc = doc["incidents"][0]
    assert inc["start"].startswith("2023-03-20T12:30:") or inc["start"].startswith(
        "2023-03-20T12:29:")
    assert inc["end"].startswith("2023-03-20T14:15:") or inc["end"].startswith(
        "2023-03-20T14:14:")
    assert abs(inc["impact"]["users_pct"] - 15.0) <= 1.0
    assert inc["detection"]["first_alert"].startswith("2023-03-20T12:30:")
    assert 0 <= inc["detection"]["time_to_detect_s"] <= 60
    assert inc["causes"][0]["kind"] == "config_change"
    assert inc["causes"][0]["host"] == "web-3"
    assert any("Connection refused" in e for e in inc["causes"][0]["evidence"])
    kinds = [(e["kind"], e.get("host")) for e in inc["timeline"]]
    assert ("alert_firing", "lb-1:9113") in kinds
    assert sum(1 for k, h in kinds if k == "reload" and h == "web-3") == 2
    assert all(re.search(r":\d+$", e["source"]) for e in inc["timeline"])


def test_json_contract(seed_report: Path) -> None:
    doc = json.loads((seed_report / "timeline.json").read_text())
    assert doc["schema_version"] == 1
    for s in doc["sources"]:
        assert {"path", "format", "host", "lines", "parsed", "rejected", "skipped", "first",
                "last", "tz"} <= s.keys()
        assert s["lines"] == s["parsed"] + s["rejected"] + s["skipped"]
        assert s["path"].startswith("sample_logs/seed-outage/")
    for inc in doc["incidents"]:
        assert {"start", "end", "duration_s", "impact", "detection", "causes",
                "timeline"} <= inc.keys()
        assert {"users_affected", "users_total", "users_pct", "requests_failed",
                "requests_total", "requests_pct"} <= inc["impact"].keys()
        assert {"first_alert", "time_to_detect_s"} <= inc["detection"].keys()
        assert ISO_Z.match(inc["start"]) and ISO_Z.match(inc["end"])
        assert 0 <= inc["impact"]["users_pct"] <= 100
        assert all({"kind", "summary"} <= c.keys() for c in inc["causes"])
        assert all({"ts", "kind", "text", "source"} <= e.keys() for e in inc["timeline"])
    assert doc["events"]
    for e in doc["events"]:
        assert {"ts", "end", "source", "kind", "severity", "host", "message", "count"} <= e.keys()
        assert ISO_Z.match(e["ts"])
        assert e["severity"] in ("critical", "error", "warning", "info")


def test_golden_postmortem(seed_report: Path, update_golden: bool) -> None:
    got = (seed_report / "postmortem.md").read_text()
    golden = GOLDEN / "seed-outage.postmortem.md"
    if update_golden or not golden.exists():
        golden.write_text(got)
    want = golden.read_text()
    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                        "golden", "got"))
    assert not diff, "postmortem.md changed (run pytest --update-golden if intended):\n" + diff


def test_chart_written(seed_report: Path) -> None:
    png = (seed_report / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_build_twice_is_byte_identical(tmp_path: Path, seed_report: Path) -> None:
    again = _build(tmp_path, SEED)
    for name in ("postmortem.md", "timeline.json"):
        assert (again / name).read_bytes() == (seed_report / name).read_bytes(), name


def test_quiet_day_has_no_incident(tmp_path: Path) -> None:
    out = _build(tmp_path, QUIET)
    doc = json.loads((out / "timeline.json").read_text())
    assert doc["incidents"] == []
    assert "No incident found" in (out / "postmortem.md").read_text()


def test_inspect_names_every_format_and_counts_add_up() -> None:
    result = runner.invoke(app, ["inspect", str(ROOT / "sample_logs")])
    assert result.exit_code == 0, result.output
    blocks = result.output.split("\n" + str(ROOT))
    assert result.output.count("format nginx_access") == 10
    assert result.output.count("format nginx_error") == 10
    assert result.output.count("format alertmanager") == 2
    for m in re.finditer(r"lines (\d+) = parsed (\d+) \+ rejected (\d+) \+ skipped (\d+)",
                         result.output):
        lines, parsed, rejected, skipped = map(int, m.groups())
        assert lines == parsed + rejected + skipped
    assert len(blocks) >= 22
    assert "zone +0000 (inferred from the access log of host web-3)" in result.output


def test_missing_path_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert result.exit_code == ExitCode.INPUT
    assert result.output.strip().count("\n") == 0
    assert "nope: no such file or directory" in result.output
    assert "Traceback" not in result.output


def test_nothing_recognisable(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    result = runner.invoke(app, ["build", str(tmp_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == ExitCode.UNRECOGNISED
    assert "notes.txt" in result.output and "not a recognised format" in result.output
    assert result.output.strip().count("\n") == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    f = tmp_path / "access.log"
    f.write_text("x\n")
    f.chmod(0)
    result = runner.invoke(app, ["build", str(f), "-o", str(tmp_path / "o")])
    assert result.exit_code == ExitCode.INPUT
    assert "permission denied" in result.output


def test_unreadable_compressed_file(tmp_path: Path) -> None:
    f = tmp_path / "access.log.gz"
    f.write_bytes(b"\x1f\x8b\x08\x00 a gzip header, then no deflate stream")
    result = runner.invoke(app, ["build", str(f), "-o", str(tmp_path / "o")])
    assert result.exit_code == ExitCode.INPUT
    assert "access.log.gz: cannot read" in result.output
    assert result.output.strip().count("\n") == 0


@pytest.mark.parametrize(("name", "pack", "note"), [
    ("access.log.gz", bytes, "named .gz but not gz data: read as plain text"),
    ("access.log.1", lambda b: gzip.compress(b, mtime=0), "gz data under a plain name"),
    ("access.log.2", bz2.compress, "bz2 data under a plain name"),
    ("access.log.bz2", lzma.compress, "xz data under a plain name"),
])
def test_compression_is_read_from_the_content_not_the_name(
        tmp_path: Path, name: str, pack: Callable[[bytes], bytes], note: str) -> None:
    """A log named .gz that holds plain lines stopped the build ("not a gzipped file"); a
    rotated log gzipped under a plain name was skipped as unrecognised. Both are read, with
    a note that says what the name got wrong."""
    host = tmp_path / "web-1"
    host.mkdir()
    (host / name).write_bytes(pack((SEED / "web-1" / "access.log").read_bytes()))
    out = tmp_path / "o"
    result = runner.invoke(app, ["build", str(host), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    [src] = json.loads((out / "timeline.json").read_text())["sources"]
    assert src["parsed"] == src["lines"] > 1000 and src["rejected"] == 0
    assert any(note in n for n in src["notes"]), src["notes"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_damaged_gzip_body_names_the_file(tmp_path: Path, jobs: str) -> None:
    """A good gzip header over damaged deflate data fails while parsing, in a worker or
    while inflating blocks for them: still one line naming the file, exit code INPUT."""
    body = bytearray(gzip.compress((SEED / "lb-1" / "access.log").read_bytes() * 40))
    for i in range(len(body) // 2, len(body) // 2 + 400):
        body[i] ^= 0x5A
    f = tmp_path / "access.log.gz"
    f.write_bytes(bytes(body))
    result = runner.invoke(app, ["build", str(f), "-o", str(tmp_path / "o"), "-j", jobs])
    assert result.exit_code == ExitCode.INPUT, result.output
    assert "access.log.gz: cannot read" in result.output
    assert result.output.strip().count("\n") == 0


def test_bad_window_and_zone(tmp_path: Path) -> None:
    r = runner.invoke(app, ["build", str(SEED), "-o", str(tmp_path), "--window", "yesterday"])
    assert r.exit_code == ExitCode.USAGE and "--window" in r.output
    r = runner.invoke(app, ["build", str(SEED), "-o", str(tmp_path), "--tz", "Mars/Base"])
    assert r.exit_code == ExitCode.USAGE and "--tz Mars/Base" in r.output


def test_on_bad_lines_choices(tmp_path: Path) -> None:
    log = tmp_path / "web-1" / "access.log"
    log.parent.mkdir()
    good = (SEED / "lb-1" / "access.log").read_text().splitlines(keepends=True)[:50]
    log.write_text("".join(good[:20]) + "this is not a log line\n" + "".join(good[20:]))
    r = runner.invoke(app, ["inspect", str(log), "--on-bad-lines", "sometimes"])
    assert r.exit_code == ExitCode.USAGE and "--on-bad-lines" in r.output
    r = runner.invoke(app, ["inspect", str(log), "--on-bad-lines", "error"])
    assert r.exit_code == ExitCode.BAD_DATA and "access.log:21" in r.output
    for policy in ("warn", "skip"):
        r = runner.invoke(app, ["inspect", str(log), "--on-bad-lines", policy])
        assert r.exit_code == 0 and "rejected 1" in r.output, r.output
    assert "rejected line 21" in runner.invoke(app, ["inspect", str(log)]).output


def test_window_option(tmp_path: Path) -> None:
    out = _build(tmp_path, SEED, args=("--window", "2023-03-20T13:00Z..2023-03-20T13:30Z"))
    inc = json.loads((out / "timeline.json").read_text())["incidents"][0]
    assert inc["start"] == "2023-03-20T13:00:00Z" and inc["end"] == "2023-03-20T13:30:00Z"
    assert inc["window_given"] is True


def test_every_command_has_help_with_an_example() -> None:
    for cmd in ("build", "inspect"):
        result = runner.invoke(app, [cmd, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output


def test_python_dash_m_and_console_script() -> None:
    proc = subprocess.run([sys.executable, "-m", "timeline", "--help"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and "build" in proc.stdout
