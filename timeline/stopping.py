"""Stop requests (Ctrl-C, SIGTERM, SIGHUP): raised where they land, and remembered.

The console script's handlers raise an exception that unwinds the build (workers killed,
partial output removed). But Python runs a handler wherever the main thread happens to be,
and some places swallow what it raises: a weakref callback or a ``__del__`` prints
"Exception ignored in ..." and carries on, and the build would finish and exit 0 after the
user pressed Ctrl-C (seen in 2 of 150 random-moment signals). So each request is also
remembered, and :func:`check` raises it again at the points that matter: between the first
pass's results, before a report replaces the old one, and before the exit status is chosen.

Imports nothing heavy: the console script installs the handlers before it loads pandas.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

#: The stop signals, in the order a handler is installed.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_requested: list[int] = []


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (workers killed, partial output removed).

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def stop_for(signum: int) -> BaseException:
    """The exception a stop signal unwinds with (KeyboardInterrupt for SIGINT)."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _request(signum: int, _frame: object) -> None:
    _requested.append(signum)
    raise stop_for(signum)


def install() -> None:
    """Handle the stop signals in this process (the console script calls it first).

    A signal the caller ignores stays ignored, as Python itself leaves SIGINT: ``nohup``
    (SIGHUP) and a shell's background job (SIGINT) mean "do not stop on this one".
    """
    for sig in SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _request)
    sys.unraisablehook = _quiet_about_stops


def _quiet_about_stops(unraisable: Any) -> None:
    """Python's report of an exception it had to drop, minus our stops: those are
    remembered and raised again by :func:`check`, so their traceback would only alarm."""
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)) and _requested:
        return
    sys.__unraisablehook__(unraisable)


def requested() -> int | None:
    """The first stop signal received, or None."""
    return _requested[0] if _requested else None


def check() -> None:
    """Raise the stop that was requested, if one was (and was perhaps swallowed)."""
    if _requested:
        raise stop_for(_requested[0])
