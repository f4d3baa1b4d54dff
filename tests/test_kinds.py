"""Every event kind the correlator's tables name is one a parser produces.

The tables that decide causes (``narrate.CAUSE_OF_KIND``, ``narrate.LIFECYCLE``,
``analyze.BURST_KINDS``, ``analyze.DROPPED_KINDS``) key on the ``kind`` strings the parsers
write. A kind renamed in a parser, or misspelt in a table, fails nowhere else: the table
entry just never matches and a cause goes missing from the report.
"""

from __future__ import annotations

import pytest

from parsers import changes, nginx_error
from timeline import analyze, narrate

#: What the error-log parser writes: its classification table, and ``other``.
ERROR_LOG_KINDS = frozenset({kind for _, _, kind in nginx_error.KINDS} | {"other"})
#: What a change-events file's records are normalised to.
CHANGE_KINDS = frozenset(changes.KINDS)
PRODUCED = ERROR_LOG_KINDS | CHANGE_KINDS

TABLES = {
    "narrate.CAUSE_OF_KIND": set(narrate.CAUSE_OF_KIND),
    "narrate.LIFECYCLE": set(narrate.LIFECYCLE),
    "analyze.BURST_KINDS": set(analyze.BURST_KINDS),
    "analyze.DROPPED_KINDS": set(analyze.DROPPED_KINDS),
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_kind_in_a_cause_table_is_produced_by_a_parser(table: str) -> None:
    assert sorted(TABLES[table] - PRODUCED) == []


@pytest.mark.parametrize("table", ["narrate.CAUSE_OF_KIND", "analyze.BURST_KINDS",
                                   "analyze.DROPPED_KINDS"])
def test_error_signals_are_error_log_kinds(table: str) -> None:
    # Each of these tables is documented as error-log kinds: a change record shares no kind
    # with them (changes' config_change is a change, not nginx_error's config_error).
    assert sorted(TABLES[table] - ERROR_LOG_KINDS) == []


def test_change_triggers_are_change_kinds() -> None:
    # A change of kind ``other`` is told as a "change" (narrate._actions).
    actions = (CHANGE_KINDS - {"other"}) | {"change"}
    assert sorted(narrate.CHANGE_TRIGGERS - actions) == []


def test_event_keys_are_the_typed_record() -> None:
    """``EVENT_KEYS`` (the events table's columns) and the ``Event`` record mypy checks the
    parsers against name the same keys, in the same order."""
    from parsers.base import EVENT_KEYS, Event

    assert tuple(Event.__annotations__) == EVENT_KEYS

