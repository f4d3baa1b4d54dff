"""Exceptions the library raises; the CLI maps each to an exit code and prints its message."""

from __future__ import annotations


class TimelineError(Exception):
    """Base class: the message is one line, names the input and the option that fixes it."""


class InputError(TimelineError):
    """A path is missing or unreadable."""


class NothingRecognisedError(TimelineError):
    """No input file was recognised as a supported format."""


class UsageError(TimelineError):
    """An option value is invalid (bad zone, bad window...)."""
