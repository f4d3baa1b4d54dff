"""Exceptions the library raises; the CLI maps each to an exit code and prints its message."""

from __future__ import annotations

# The root is defined with the parsers (the bottom layer), so that parsers.ParseError is a
# TimelineError too while parsers imports nothing from timeline.
from parsers.base import TimelineError as TimelineError


class InputError(TimelineError):
    """A path is missing or unreadable."""


class NothingRecognisedError(TimelineError):
    """No input file was recognised as a supported format."""


class UsageError(TimelineError):
    """An option value is invalid (bad zone, bad window...)."""


class WorkerLostError(TimelineError):
    """A worker process of the parse ended abruptly (killed from outside: most often the
    kernel's out-of-memory killer). Not a bug in the input or the tool: run again with
    fewer jobs or more memory."""
