"""The fault suite (issue 14, groups 2 and 4): a build killed at any moment leaves no process
behind and the report folder holding the previous report or the new one, whole.

Each case starts a real ``python -m timeline build`` in its own session, waits for a moment
it can see from outside (workers started: parsing; the staging folder holding the Markdown
but no chart yet: drawing the chart; the chart in the staging folder: writing and swapping),
sends the signal, and then checks, polling with generous timeouts (nothing here is timed):

- the build's stdout and stderr reach end of file (``build ... | cat`` does not hang: no
  worker holds them open);
- no process of the build's session is alive;
- the report folder is byte-identical to a clean build of the old input or of the new one;
- after SIGINT or SIGTERM, nothing of the build is left beside the folder either.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import processes
from timeline.report import DEFAULT_FORMATS, FILES
from timeline.report.atomic import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
SEED = "sample_logs/seed-outage"
QUIET = "sample_logs/quiet-day"
POLL_S = 0.005
PATIENCE_S = 120.0  # a loaded 2-core machine is slow; a real hang is for ever

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _cmd(inputs: list[str], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "timeline", "build", *inputs, "-o", str(out), "-q", *extra]


def _as_from_a_terminal() -> None:
    """The build's signals as a shell in a terminal leaves them. Whoever runs the suite may
    ignore some (a non-interactive shell's background job ignores SIGINT, nohup SIGHUP),
    and the build rightly keeps an ignored signal ignored: the SIGINT cases would then test
    nothing (CI run in the background here: the build finished despite the SIGINT)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _build(inputs: list[str], out: Path, *extra: str) -> None:
    subprocess.run(_cmd(inputs, out, *extra), cwd=ROOT, env=_env(), check=True,
                   stdin=subprocess.DEVNULL, timeout=PATIENCE_S)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    return [pid for pid, state, _, session in processes()
            if session == sid and state not in ("Z", "X")]


def _wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes]) -> bool:
    """Poll until ``ready()``; False when the build ended first (the moment was missed)."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(POLL_S)
    raise AssertionError(f"the build never reached {what}")


def _stages(parent: Path) -> list[Path]:
    return sorted(parent.glob(".report.tmp-*"))


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Clean reports: the old one (quiet-day), the new ones (seed; a generated large log)."""
    base = tmp_path_factory.mktemp("refs")
    big = base / "big"
    big.mkdir()
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--lines",
                    "150000", "--hours", "4", "-o", str(big / "access.log")], check=True,
                   stdout=subprocess.DEVNULL, timeout=PATIENCE_S)
    _build([QUIET], base / "old")
    _build([SEED], base / "new")
    return {"old": _snapshot(base / "old"), "new": _snapshot(base / "new"), "big": str(big),
            "old_dir": base / "old"}


def _moments(parent: Path, pid: int) -> dict[str, Callable[[], bool]]:
    def parsing() -> bool:
        return len(_session(pid)) > 1  # the pool's workers are up

    def chart() -> bool:
        return any((s / "timeline.json").exists() and not (s / "timeline.png").exists()
                   for s in _stages(parent))

    def write() -> bool:
        return any((s / "timeline.png").exists() for s in _stages(parent))

    return {"parsing": parsing, "chart": chart, "write": write}


@pytest.mark.parametrize("moment", ["parsing", "chart", "write"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_killed_build_leaves_no_process_and_a_whole_report(
        tmp_path: Path, refs: dict[str, object], sig: signal.Signals, moment: str) -> None:
    out = tmp_path / "report"
    shutil.copytree(refs["old_dir"], out)  # type: ignore[arg-type]
    inputs = [str(refs["big"])] if moment == "parsing" else [SEED]
    proc = subprocess.Popen(_cmd(inputs, out, "-j", "2"), cwd=ROOT, env=_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_as_from_a_terminal)
    try:
        reached = _wait_for(moment, _moments(tmp_path, proc.pid)[moment], proc)
        if reached:
            os.kill(proc.pid, sig)  # the build only, as a supervisor would: not its group
        # End of file on both pipes: no worker is left holding them (`build | cat` ends).
        _, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + PATIENCE_S
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session(proc.pid) == [], "processes of the killed build are still alive"
    assert b"Traceback" not in err and b"internal error" not in err, err
    got = _snapshot(out)
    assert got in (refs["old"], refs["new"]), sorted(got)
    if moment == "parsing" and reached:
        assert got == refs["old"]
    if reached and sig != signal.SIGKILL:
        # 128+N: stopped and cleaned up; 0: it had finished; -N: the signal came as the
        # interpreter was exiting, after the report was published.
        assert proc.returncode in (128 + sig, 0, -sig), (proc.returncode, err)
        assert _stages(tmp_path) == [], "a staging folder was left behind"
        if proc.returncode == 128 + signal.SIGTERM:
            assert b"stopped by SIGTERM" in err
    if sig != signal.SIGKILL:
        return
    # The next build cleans what a killed one left and publishes whole.
    _build([SEED], out)
    assert _snapshot(out) == refs["new"]
    assert _stages(tmp_path) == []


def test_two_concurrent_builds_into_one_folder(tmp_path: Path, refs: dict[str, object]
                                               ) -> None:
    out = tmp_path / "report"
    shutil.copytree(refs["old_dir"], out)  # type: ignore[arg-type]
    first = subprocess.Popen(_cmd([str(refs["big"])], out, "-j", "2"), cwd=ROOT, env=_env(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        lock = tmp_path / ".report.lock"
        held = _wait_for("the lock", lambda: lock.exists() and lock.read_text().strip()
                         == str(first.pid), first)
        assert held, "the first build ended before taking its lock"
        second = subprocess.run(_cmd([SEED], out), cwd=ROOT, env=_env(),
                                stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=PATIENCE_S)
        _, err = first.communicate(timeout=PATIENCE_S)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == 0, err
    if second.returncode != 0:  # refused while the first held the folder
        assert second.returncode == 3, second.stderr
        msg = second.stderr.decode()
        assert "another build" in msg and "is writing this report folder" in msg, msg
        assert msg.count("\n") == 1
    # Whatever the order, the folder holds one build's report whole.
    got = _snapshot(out)
    names = set((out / MANIFEST).read_text().split())
    assert names == {FILES[f] for f in DEFAULT_FORMATS}
    assert set(got) == names | {MANIFEST}
    assert got != refs["old"]
