"""The local process pool of the first pass: sized to the work, and dying with its parent.

A build that is killed (SIGTERM, SIGKILL, a closed terminal) must not leave its workers
behind: a worker blocked on its task queue under PID 1 holds the build's stdout open for
ever, so ``incident-timeline build ... | cat`` would never end. Each worker therefore

- asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux),
- and, where that is not available or the parent died before the call, watches its parent
  from a thread and exits when it is gone (the parent-watch fallback);
- ignores SIGINT and takes the default action for SIGTERM: Ctrl-C reaches the whole
  process group, and the parent, not each worker, decides what happens (it kills the
  workers and removes its partial output).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from timeline.errors import WorkerLostError

#: ``PR_SET_PDEATHSIG`` from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1
#: How often a worker checks that its parent is alive (the fallback only).
WATCH_S = 0.5


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where known)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(requested: int, units: int) -> int:
    """Workers for ``units`` pieces of work: ``requested`` (0: one per CPU), but never more
    than there are pieces or CPUs (``--jobs 1000`` for 11 files starts 2 on 2 cores)."""
    want = requested if requested > 0 else cpu_count()
    return max(1, min(want, units, cpu_count()))


def _die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)  # the parent is gone: nobody will read our results


def init_worker(parent: int) -> None:
    """The pool's initializer: die with the parent, leave signals to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # Blocked by the parent around the fork (see _MaskedStart); the handlers above are ours.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="watch-parent", daemon=True).start()


#: The signals the parent turns into an unwinding exception.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _masked_context() -> multiprocessing.context.BaseContext:
    """The default multiprocessing context, whose processes start with the stop signals
    blocked.

    A signal handler that raises while the parent forks runs inside the fork hooks, where
    Python prints the exception and drops it ("Exception ignored in _releaseLock"): the
    build would go on after SIGTERM. Blocked across ``start()``, the signal is delivered
    just after it, at a point where it unwinds; the child inherits the mask and unblocks the
    signals in :func:`init_worker`, once it has its own handlers.
    """
    base = multiprocessing.get_context()

    def start(self: multiprocessing.process.BaseProcess) -> None:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            process_start(self)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    process_start = base.Process.start
    masked = type("MaskedProcess", (base.Process,), {"start": start})

    class Context(type(base)):  # type: ignore[misc]
        Process = masked

    return Context()


def kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers now (on an interrupt: their results are not wanted)."""
    processes = dict(getattr(pool, "_processes", None) or {})
    # A worker whose start() was interrupted is not in the pool's table yet, but it is one
    # of this process's children: left alive, the exit would wait for it for ever.
    for proc in multiprocessing.active_children():
        processes.setdefault(proc.pid, proc)
    for proc in processes.values():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            proc.kill()


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold the stop signals that arrive inside the block and deliver them after it.

    Starting a pool is not interruptible: ``ProcessPoolExecutor`` records its manager thread
    before starting it, and a stop signal raised between the two (or while ``start()``
    waits for the thread) leaves a thread that ``shutdown`` cannot join ("cannot join thread
    before it is started"): the interrupted build would end in an internal error instead of
    its clean stop. Python runs signal handlers in the main thread only, so swapping the
    handlers there for ones that take note is enough; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def note(signum: int, _frame: object) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in sorted(_STOP_SIGNALS)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:  # the first one decides, as it would have without the hold
            signal.raise_signal(held[0])


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers die with this process; on an exception (an interrupt
    included) they are killed rather than waited for.

    The pool is started (manager thread and workers) before it is handed out, with the stop
    signals held (:func:`_stop_signals_held`), so an interrupt always finds it whole.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_masked_context(),
                               initializer=init_worker, initargs=(os.getpid(),))
    workers_seen: list[multiprocessing.process.BaseProcess] = []
    try:
        with _stop_signals_held():
            pool.submit(int)  # the first submit starts the manager thread and the workers
        # Kept here: the pool forgets its workers once it is broken, with their exit codes.
        workers_seen.extend(dict(getattr(pool, "_processes", None) or {}).values())
        yield pool
    except BrokenProcessPool:
        _abandon(pool)
        raise WorkerLostError(_lost(workers_seen)) from None
    except BaseException:
        _abandon(pool)
        raise
    pool.shutdown(wait=True)


def _abandon(pool: ProcessPoolExecutor) -> None:
    """End a pool whose results are not wanted: workers killed, the manager thread
    released and waited for with a bound, never for ever."""
    kill_workers(pool)
    _release_manager(pool)
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    if isinstance(manager, threading.Thread) and manager.ident is not None:
        manager.join(timeout=MANAGER_JOIN_S)


def _lost(workers: list[multiprocessing.process.BaseProcess]) -> str:
    """Why the pool broke, in words: which worker ended and how."""
    for proc in workers:
        with contextlib.suppress(ValueError, AttributeError, AssertionError):
            proc.join(timeout=5)
    # The executor SIGTERMs the surviving workers once one is lost: name the one that died
    # first of another cause before any of those.
    ended = sorted(((p.pid, p.exitcode) for p in workers if p.exitcode is not None),
                   key=lambda e: e[1] == -signal.SIGTERM)
    how = "ended abruptly"
    for pid, code in ended:
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"(pid {pid}) was killed by {name}"
            if -code == signal.SIGKILL:
                how += ", as the kernel's out-of-memory killer does when memory runs out"
            break
        if code != 0:
            how = f"(pid {pid}) exited with status {code}"
            break
    return (f"a parsing worker process {how}; run again with --jobs 1 (one process, less "
            "memory) or with more memory")


#: How long an interrupted pool's manager thread is waited for once released.
MANAGER_JOIN_S = 10.0


def _release_manager(pool: ProcessPoolExecutor) -> None:
    """Let the pool's manager thread finish after its workers were killed.

    A worker killed while it wrote a result leaves half a message in the result pipe, and
    the manager thread blocked reading the rest of it: no end of file comes, because this
    process holds the pipe's write end too, so ``shutdown(wait=True)`` (and the interpreter's
    exit, which joins that thread) would wait for ever. Made non-blocking and given one more
    byte, the read wakes, finds nothing after it, fails, and the thread marks the pool
    broken and ends, as it does when a worker dies between results.
    """
    queue = getattr(pool, "_result_queue", None)
    reader = getattr(queue, "_reader", None)
    writer = getattr(queue, "_writer", None)
    if reader is None or writer is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.set_blocking(reader.fileno(), False)
        os.write(writer.fileno(), b"\0")
