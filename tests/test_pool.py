"""The first pass's process pool: sized to the work (issue 14, group 9), dying with its
parent (group 2; killed builds are in tests/test_faults.py)."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import timeline
from timeline.pool import cpu_count, process_pool, worker_count

SEED = Path(__file__).resolve().parents[1] / "sample_logs" / "seed-outage"


def test_jobs_are_capped_at_the_work_and_the_cpus() -> None:
    assert worker_count(1000, 11) == min(11, cpu_count())
    assert worker_count(0, 1) == 1
    assert worker_count(2, 0) == 1
    assert worker_count(1, 50) == 1


def test_jobs_1000_for_11_files_starts_no_more_workers_than_cpus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: ``--jobs 1000`` started 1,000 processes for 11 files."""
    for i in range(11):
        shutil.copy(SEED / "web-1" / "access.log", tmp_path / f"access-{i}.log")
    started: list[int] = []
    real = process_pool

    @contextlib.contextmanager
    def spy(workers: int) -> Iterator[object]:
        started.append(workers)
        with real(workers) as pool:
            yield pool

    monkeypatch.setattr("timeline.ingest.process_pool", spy)
    data = timeline.read([str(tmp_path)], timeline.ReadOptions(jobs=1000, host="web-1"))
    assert sum(s.parsed for s in data.sources) > 0
    assert all(n <= min(11, cpu_count()) for n in started), started


def _worker_state() -> tuple[int, object, object]:
    import os
    import signal

    return os.getpid(), signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def test_workers_leave_ctrl_c_to_the_parent() -> None:
    import os
    import signal

    with process_pool(2) as pool:
        pid, sigint, sigterm = pool.submit(_worker_state).result(timeout=60)
    assert pid != os.getpid()
    assert sigint == signal.SIG_IGN
    assert sigterm == signal.SIG_DFL


class _Stop(BaseException):
    pass


def test_a_stop_signal_while_the_pool_starts_unwinds_cleanly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """CI saw "internal error: RuntimeError: cannot join thread before it is started" from a
    SIGTERM that arrived while the pool was starting its manager thread. The signal is
    sent here at the worst moment: after the executor has recorded the thread, before the
    thread is started. The build must stop with the signal's own exception, workers gone."""
    import multiprocessing
    import os
    import signal
    from concurrent.futures import process

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    real_start = process._ExecutorManagerThread.start

    def start_after_a_signal(self: threading.Thread) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        real_start(self)

    previous = signal.signal(signal.SIGTERM, stop)
    monkeypatch.setattr(process._ExecutorManagerThread, "start", start_after_a_signal)
    try:
        with pytest.raises(_Stop), process_pool(2) as pool:
            pool.submit(int).result(timeout=60)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for child in multiprocessing.active_children():
        child.join(timeout=60)
    assert multiprocessing.active_children() == []


_KILLED_MID_RESULT = """
import time
from timeline.pool import process_pool
def big(n):
    return b"x" * n
try:
    with process_pool(2) as pool:
        pool.submit(big, 300_000_000)
        time.sleep({delay})
        raise KeyboardInterrupt
except KeyboardInterrupt:
    print("unwound", flush=True)
"""


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_an_interrupt_while_a_worker_sends_its_result_does_not_hang(delay: float) -> None:
    """Found by 150 random-moment signals: one SIGTERM landed while a worker was writing a
    large result. Killed mid-message, the worker left the pool's manager thread waiting for
    the rest of it for ever, and the build hung in ``shutdown`` (and would have at exit)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _KILLED_MID_RESULT.format(delay=delay)],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "unwound", done.stderr


def _die_by(sig: int) -> None:
    import os

    os.kill(os.getpid(), sig)


@pytest.mark.parametrize(("sig", "said"), [
    (9, "was killed by SIGKILL, as the kernel's out-of-memory killer does"),
    (15, "was killed by SIGTERM")])
def test_a_worker_killed_from_outside_is_named_not_an_internal_error(sig: int,
                                                                     said: str) -> None:
    """The out-of-memory killer takes a worker of a big parse: the build said "internal
    error: BrokenProcessPool ... please report it". It says what happened and what to do."""
    from timeline.errors import WorkerLostError

    with pytest.raises(WorkerLostError) as lost, process_pool(2) as pool:
        pool.submit(_die_by, sig).result(timeout=60)
    assert said in str(lost.value) and "--jobs 1" in str(lost.value)
