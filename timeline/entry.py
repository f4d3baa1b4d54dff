"""The console script's entry point: the stop signals first, then the command line.

Importing the command line loads pandas, numpy and matplotlib (a second or more on a cold
or busy machine). A Ctrl-C or SIGTERM in that second must stop the build as cleanly as one
during parsing, so this module imports nothing heavy: it installs the handlers, then imports
and runs :mod:`timeline.cli` inside the one ``try`` that maps every way out to its exit code.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from typing import TextIO

from timeline import stopping
from timeline.stopping import Terminated

#: Exit code of an unexpected internal error (``timeline.cli.ExitCode.INTERNAL``).
INTERNAL = 1


def stop_behind(exc: BaseException) -> BaseException | None:
    """The stop (Ctrl-C or :class:`Terminated`) that ``exc`` was raised while unwinding.

    A signal can land inside a library's ``try``/``finally`` whose clean-up then fails on the
    half-done state (matplotlib's tight bounding box raised ``ValueError: Invalid bounding
    box`` from a SIGHUP while drawing): the exception that reaches us is that one, with the
    stop in its context. The user stopped the build; that is what they are told.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, (KeyboardInterrupt, Terminated)):
            return cur
        seen.add(id(cur))
        cur = cur.__context__ or cur.__cause__
    return None


def _plain(text: object) -> str:
    """Printable text without the CLI's imports (which may be what failed)."""
    try:
        from timeline.report.escape import terminal
    except BaseException:  # noqa: BLE001 - a message must still come out
        return "".join(c if c.isprintable() else "?" for c in str(text))
    return terminal(text)


def _exit_for(stop: BaseException) -> None:
    if isinstance(stop, Terminated):
        sys.stderr.write(f"incident-timeline: stopped by {signal.Signals(stop.signum).name}\n")
        code = 128 + stop.signum
    else:
        code = 130
    _leave(code)


def _leave(code: int) -> None:
    """Exit with ``code`` after a stop, even if the interrupted work left a thread behind.

    The interpreter's exit joins every non-daemon thread; one that the interrupted work
    left blocked (a process pool's manager thread waiting on a killed worker) would make a
    stopped build hang instead of ending. The pool releases its own (timeline.pool); this
    is the guarantee for any other: the exit handlers run, the streams are flushed, and the
    process ends without waiting for the threads.
    """
    main_thread = threading.main_thread()
    if not any(t.is_alive() and not t.daemon and t is not main_thread
               for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


class _PipeSafe:
    """Standard output that a reader may close early (``inspect ... | head``).

    The first write after the reader is gone raises BrokenPipeError; click turns that into
    exit status 1, which the README reserves for internal errors, and Python would print
    "Exception ignored" when it flushes at exit. Here the stream's descriptor is pointed at
    /dev/null instead (the recipe in Python's signal documentation): the rest of the output
    goes nowhere, the command finishes its work (a build still publishes its report), and
    the exit status is the command's own.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _gone(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()
            with contextlib.suppress(OSError, ValueError):
                self._stream.flush()  # what was buffered now goes to /dev/null

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def main() -> None:
    """Entry point of the ``incident-timeline`` console script."""
    stopping.install()
    if sys.stdout is not None:
        sys.stdout = _PipeSafe(sys.stdout)
    try:
        from timeline.cli import app

        try:
            app()
        except SystemExit as done:
            if not done.code:  # a stop that something swallowed still decides the outcome
                stopping.check()
            raise
        stopping.check()
    except BrokenPipeError:
        sys.exit(0)
    except (KeyboardInterrupt, Terminated) as stop:
        _exit_for(stop)
    except Exception as exc:  # noqa: BLE001 - the promise is "never a traceback"
        behind = stop_behind(exc)
        if behind is not None:
            _exit_for(behind)
        if os.environ.get("INCIDENT_TIMELINE_DEBUG"):
            raise
        sys.stderr.write(f"incident-timeline: internal error: {type(exc).__name__}: "
                         f"{_plain(exc)} (set INCIDENT_TIMELINE_DEBUG=1 for a traceback, and "
                         "please report it)\n")
        sys.exit(INTERNAL)
