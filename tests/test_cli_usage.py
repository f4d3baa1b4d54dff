"""Bad option values and odd paths at the command line (issue 14, group 11, CLI part): a
one-line message and the right exit code, never "internal error"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from timeline.cli import ExitCode

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A real process: numpy's RuntimeWarnings go to its stderr, which CliRunner would miss.
    return subprocess.run([sys.executable, "-m", "timeline", *args], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def _one_line_usage_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == ExitCode.USAGE, (res.returncode, res.stderr)
    assert res.stderr.startswith("incident-timeline: error: "), res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
    for n in needles:
        assert n in res.stderr, res.stderr


@pytest.mark.parametrize("fmt", ["nonsense", "$foo(", "escape=bogus $remote_addr"])
def test_a_bad_log_format_is_a_usage_error(tmp_path: Path, fmt: str) -> None:
    res = _run(tmp_path, "build", str(SEED), "-o", "o", "--log-format", fmt)
    _one_line_usage_error(res, "--log-format")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("address", ["notaurl", "tcp://", ":::", "http://x:1"])
def test_a_bad_scheduler_is_a_usage_error(tmp_path: Path, address: str) -> None:
    pytest.importorskip("distributed")
    res = _run(tmp_path, "build", str(SEED), "-o", "o", "--scheduler", address)
    _one_line_usage_error(res, f"--scheduler {address}")


def test_since_after_until_is_refused(tmp_path: Path) -> None:
    """It was accepted, and the report said "Between 1970-01-01 ..."."""
    res = _run(tmp_path, "build", str(SEED), "-o", "o", "--since", "2023-03-21T00:00Z",
               "--until", "2023-03-20T00:00Z")
    _one_line_usage_error(res, "--since is after --until")
    assert not (tmp_path / "o").exists()


def test_a_window_outside_the_data_writes_no_report(tmp_path: Path) -> None:
    """It printed numpy warnings and wrote a 0/0 report without a word."""
    res = _run(tmp_path, "build", str(SEED), "-o", "o", "--window",
               "2024-01-01T00:00Z..2024-01-01T01:00Z")
    _one_line_usage_error(res, "no request in that window",
                          "the requests run from 2023-03-20 11:59:59 UTC")
    assert "Warning" not in res.stderr
    assert not (tmp_path / "o" / "postmortem.md").exists()


def test_a_symlink_loop_given_as_the_path_is_named(tmp_path: Path) -> None:
    """It was called "no such file"."""
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("nowhere")
    for cmd in ("build", "inspect"):
        res = _run(tmp_path, cmd, "loop", *(["-o", "o"] if cmd == "build" else []))
        assert res.returncode == ExitCode.INPUT, res.stderr
        assert "loop: a symlink loop" in res.stderr and res.stderr.count("\n") == 1
    res = _run(tmp_path, "build", "dangling", "-o", "o")
    assert res.returncode == ExitCode.INPUT
    assert "dangling: a symlink to nowhere, which does not exist" in res.stderr
