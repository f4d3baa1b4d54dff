"""The registry of input formats.

Every parser module is listed here explicitly (a test fails when a module in this package is
missing from :data:`REGISTRY`). Order matters for sniffing: the first module whose
``sniff`` accepts a file's head wins, so more specific formats come first.
"""

from __future__ import annotations

from types import ModuleType
from typing import cast

from parsers import (
    alertmanager,
    changes,
    cloudwatch,
    datadog,
    grafana,
    nginx_access,
    nginx_error,
    opsgenie,
    pagerduty,
)
from parsers.base import (
    REQUEST_COLUMNS,
    BadLineError,
    BlockParser,
    ParseError,
    ParseOptions,
    Parser,
    ParseStats,
    Rejected,
    TimelineError,
)


def _checked(*modules: Parser) -> tuple[ModuleType, ...]:
    """The parser modules, each of which mypy checks against :class:`Parser` here (the
    callers keep handling them as modules)."""
    return cast("tuple[ModuleType, ...]", modules)


# Alert exports, then change events, then the Nginx logs. The JSON sniffers key on container
# names no other format has (Grafana's per-alert silenceURL/dashboardURL, PagerDuty's
# incidents/log_entries, Opsgenie's action+alertId or data+tinyId, AlarmHistoryItems,
# Datadog's alert_transition or last_updated+event_type); changes needs time, kind and
# description together.
REGISTRY: tuple[ModuleType, ...] = _checked(
    alertmanager,
    grafana,
    pagerduty,
    opsgenie,
    cloudwatch,
    datadog,
    changes,
    nginx_error,
    nginx_access,
)

#: Bytes read from the start of a file to decide its format.
SNIFF_BYTES = 16384

__all__ = [
    "REGISTRY",
    "REQUEST_COLUMNS",
    "SNIFF_BYTES",
    "BadLineError",
    "BlockParser",
    "ParseError",
    "ParseOptions",
    "ParseStats",
    "Parser",
    "Rejected",
    "TimelineError",
    "by_name",
    "sniff",
]


def sniff(head: bytes) -> ModuleType | None:
    """The first registered parser that recognises ``head`` (a file's first bytes), or None."""
    for module in REGISTRY:
        if module.sniff(head):
            return module
    return None


def by_name(name: str) -> ModuleType:
    """The parser module registered under ``name``.

    Raises:
        KeyError: when no parser has that name.
    """
    for module in REGISTRY:
        if module.NAME == name:
            return module
    raise KeyError(name)
