"""The console script's entry (timeline/entry.py): every stop is a clean stop.

Found by sending SIGINT, SIGTERM and SIGHUP to ``build`` at random moments (80 runs): a
Ctrl-C while the command line was still importing pandas printed a KeyboardInterrupt
traceback, and a SIGHUP while matplotlib fitted the chart's bounding box came out as
"internal error: ValueError: Invalid bounding box".
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

import timeline.cli
from timeline import entry

ROOT = Path(__file__).resolve().parents[1]

#: Runs the entry point with a signal sent to itself while ``timeline.cli`` is imported.
_SIGNAL_DURING_IMPORT = """
import builtins, os, signal, sys
# As started from a terminal: whoever runs the tests may ignore SIGHUP (nohup) or SIGINT
# (a background job), and an ignored signal stays ignored (tested below).
signal.signal(signal.{sig}, signal.SIG_DFL)
real = builtins.__import__
def spy(name, *args, **kwargs):
    if name == "timeline.cli":
        os.kill(os.getpid(), signal.{sig})
    return real(name, *args, **kwargs)
builtins.__import__ = spy
sys.argv = ["incident-timeline", "build", "sample_logs/seed-outage", "-o", {out!r}, "-q"]
from timeline.entry import main
main()
"""


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_stop_while_the_command_line_loads_is_a_clean_stop(
        tmp_path: Path, sig: str, code: int) -> None:
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-c", _SIGNAL_DURING_IMPORT.format(sig=sig,
                                                                            out=str(out))],
                          cwd=ROOT, capture_output=True, timeout=300, check=False)
    assert done.returncode == code, done.stderr
    assert b"Traceback" not in done.stderr, done.stderr
    assert not out.exists()


def test_an_error_raised_while_unwinding_a_stop_is_reported_as_the_stop(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def drawing() -> None:
        try:
            raise entry.Terminated(int(signal.SIGHUP))
        finally:
            raise ValueError("Invalid bounding box")  # a library's clean-up, failing

    monkeypatch.setattr(timeline.cli, "app", drawing)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 128 + signal.SIGHUP
    err = capsys.readouterr().err
    assert "stopped by SIGHUP" in err and "internal error" not in err


def test_a_real_internal_error_still_says_so(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> None:
        raise ValueError("a bug\x1b[2J")

    monkeypatch.setattr(timeline.cli, "app", broken)
    monkeypatch.delenv("INCIDENT_TIMELINE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == entry.INTERNAL == int(timeline.cli.ExitCode.INTERNAL)
    err = capsys.readouterr().err
    assert "internal error: ValueError: a bug" in err and "\x1b" not in err


def test_the_console_script_enters_before_the_heavy_imports() -> None:
    """``import timeline.entry`` must not load pandas: the handlers come first."""
    probe = ("import sys, timeline.entry; "
             "print(sorted(m for m in ('pandas', 'numpy', 'matplotlib', 'timeline.cli') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_a_stop_that_something_swallowed_still_stops_the_build(tmp_path: Path) -> None:
    """A handler's exception raised inside a weakref callback is printed and dropped by
    Python ("Exception ignored in ..."); the build went on, published and exited 0. The
    request is remembered: no new report, and the signal's exit status."""
    probe = f"""
import signal, sys
from timeline import stopping
import timeline.report.atomic as atomic
real = atomic._swap_in
def swallowed(*args):
    try:
        signal.raise_signal(signal.SIGTERM)
    except BaseException:
        pass  # as a weakref callback would
    return real(*args)
atomic._swap_in = swallowed
out = {str(tmp_path / "r")!r}
sys.argv = ["incident-timeline", "build", "sample_logs/seed-outage", "-o", out, "-q"]
from timeline.entry import main
main()
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == 143, done.stderr
    assert b"stopped by SIGTERM" in done.stderr


def test_python_says_nothing_of_a_stop_it_had_to_drop() -> None:
    """A weakref callback or ``__del__`` cannot raise: Python prints "Exception ignored in"
    with a traceback. For a stop it is noise (the stop is remembered); for anything else
    Python's own report stays."""
    probe = """
import gc, signal
from timeline import stopping
stopping.install()
class Dropped:
    def __del__(self):
        signal.raise_signal(signal.SIGTERM)
class Other:
    def __del__(self):
        raise ValueError("a real bug")
Dropped(); Other(); gc.collect()
print("requested", stopping.requested())
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert "requested 15" in done.stdout
    assert "Terminated" not in done.stderr and "ValueError: a real bug" in done.stderr


def test_an_ignored_signal_stays_ignored() -> None:
    """``nohup incident-timeline build ...`` must survive the terminal closing."""
    probe = ("import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
             "from timeline import stopping; stopping.install(); "
             "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, "
             "signal.getsignal(signal.SIGTERM) is stopping._request)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["True", "True"]


@pytest.mark.parametrize("args", [["inspect", "sample_logs/seed-outage"], ["--help"],
                                  ["build", "sample_logs/seed-outage", "-o", "{out}"]])
def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path, args: list[str]) -> None:
    """``incident-timeline inspect DIR | head -1``: the write after ``head`` has gone got
    exit status 1, the README's "internal error". The command finishes its work (a build
    still publishes its report) and exits 0, saying nothing on stderr."""
    import os

    out = tmp_path / "r"
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "timeline",
                               *[a.format(out=out) for a in args]], cwd=ROOT, stdout=writer,
                              stderr=subprocess.PIPE, timeout=300, check=False)
    finally:
        os.close(writer)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    if args[0] == "build":
        assert (out / "postmortem.md").is_file()
