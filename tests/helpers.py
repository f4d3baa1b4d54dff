"""What the tests of the event parsers share: parse a file as the CLI does and check what
every event row of that format must hold."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from parsers.base import EVENT_KEYS, ParseError, ParseOptions, ParseStats
from parsers.export import SAMPLE_CHARS

#: The attrs every alert event carries, whatever the format.
ALERT_ATTRS = ("alertname", "status", "labels", "link", "severity_raw")


def parse_events(
    module: ModuleType,
    path: Path,
    *,
    kinds: Collection[str] = (),
    attrs: Collection[str] = (),
    fixed: Mapping[str, Any] | None = None,
    **opts: Any,
) -> tuple[list[dict[str, Any]], ParseStats]:
    """Parse ``path`` with ``module`` and check the bookkeeping invariant and the rows.

    Every event has the ``EVENT_KEYS`` in order; with ``kinds``, its kind is one of them, its
    count 1 and its sample at most ``SAMPLE_CHARS`` long; it has the ``attrs`` keys, and the
    values of ``fixed`` (``"attrs.x"`` for an attr).

    Args:
        module: The parser module.
        path: The file.
        kinds: The kinds an event may have (none checked when empty).
        attrs: Keys every event's attrs must have.
        fixed: Values every event must have.
        **opts: ``ParseOptions`` fields.
    """
    stats = ParseStats()
    options = ParseOptions(display_path=str(path), **opts)
    with open(path, "rb") as fh:
        events = [e for chunk in module.parse(fh, stats, options) for e in chunk]
    stats.check()
    for event in events:
        assert tuple(event) == EVENT_KEYS
        if kinds:
            assert event["kind"] in kinds and event["count"] == 1
            assert len(event["sample"]) <= SAMPLE_CHARS
        for key in attrs:
            assert key in event["attrs"], key
        for key, value in (fixed or {}).items():
            where, _, name = key.rpartition(".")
            assert (event["attrs"] if where else event)[name] == value, key
    return events, stats


def parse_error(module: ModuleType, path: Path) -> str:
    """The message of the :class:`ParseError` that parsing ``path`` raises (one line)."""
    with pytest.raises(ParseError) as info, open(path, "rb") as fh:
        for _ in module.parse(fh, ParseStats(), ParseOptions(display_path=str(path))):
            pass
    message = str(info.value)
    assert "\n" not in message
    return message



def check_stats(
    stats: ParseStats,
    counts: tuple[int, int, int, int],
    *,
    variant: str | None = None,
    skips: Mapping[str, int] | None = None,
) -> None:
    """Check a parse's counts (``lines, parsed, rejected, skipped``), and the variant and
    the skip reasons when given: what every sample test of an export states first."""
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == counts
    if variant is not None:
        assert stats.variant == variant
    if skips is not None:
        assert stats.skip_reasons == dict(skips)


def rejected(stats: ParseStats) -> list[tuple[int, str]]:
    """The rejected lines' (line, reason) pairs, in file order."""
    return [(r.line, r.reason) for r in stats.rejects]


def check_all_rejected(
    parsed: tuple[list[Any], ParseStats], expected: list[tuple[int, str]]
) -> None:
    """A file every record of which is rejected: no events, and these (line, reason)."""
    events, stats = parsed
    assert events == []
    assert rejected(stats) == expected
