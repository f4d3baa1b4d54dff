"""``incident-timeline lint``: checks a postmortem draft (ours or edited by people) for the
faults a review would send back.

Four rules, each reported with its line number:

- ``timeline-source``: every row of a Timeline section (a list item, or a table row) cites
  its source: a code span holding ``file:line`` (or ``--window``, for a window given by
  hand).
- ``action-item``: every item of an action-items section (``Action Items``, ``Corrective
  actions``, ``Corrective and Preventative Measures``, ``Follow-ups``) names an owner and a
  type, or says TODO.
- ``blame``: no blame words ("human error", "should have", "careless"...): a postmortem
  looks at systems, not at people.
- ``time-zone``: every time of day carries its zone (``UTC``, ``Z``, ``+02:00``, ``CEST``,
  ``Europe/Berlin``); offsets from impact start (``T+01:30``) are not times of day.

Code (fenced blocks and inline spans) is not checked for blame words or times: it is
quoted evidence (a log line, a path), not the draft's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Blame words and phrases (case-insensitive, whole words).
BLAME = re.compile(
    r"\b(human error|should(?: not|n't)? have|careless(?:ness|ly)?|negligen(?:t|ce)|"
    r"blame[ds]?|at fault|fault of|stupid(?:ity)?|incompeten(?:t|ce)|sloppy|lazy)\b",
    re.IGNORECASE)

#: A time of day (with its date when written before it), and an ISO zone glued to it.
_TIME = re.compile(
    r"(?<![\w.:+\-/])(?:\d{4}-\d\d-\d\d[T ])?(?:[01]\d|2[0-3]|\d):[0-5]\d(?::[0-5]\d)?"
    r"(?:[.,]\d+)?(?P<iso>Z|[+-]\d\d:?\d\d)?(?![\w:])")
#: A zone written after a time: an abbreviation, UTC/GMT with an offset, or an IANA name.
_ZONE_AFTER = re.compile(
    r"\s?(?:\(?(?:UTC|GMT)(?:[+-]\d{1,2}(?::?\d\d)?)?\b|\(?[+-]\d\d:?\d\d\b|"
    r"\(?[A-Z][A-Z]{1,4}T\b|\(?(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|"
    r"Indian|Pacific|Etc)/[A-Za-z_+\-]+)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_SOURCE = re.compile(r"`+[^`]*(?::\d+|--window)[^`]*`+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TIMELINE = re.compile(r"\btimeline\b", re.IGNORECASE)
_ACTIONS = re.compile(r"\b(action items?|corrective|preventative|follow[- ]?ups?)\b",
                      re.IGNORECASE)
_TODO = re.compile(r"\bTODO\b")


@dataclass(frozen=True)
class Finding:
    """One fault: the line (1-based), the rule and what is wrong."""

    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        """``LINE: rule: message``."""
        return f"{self.line}: {self.rule}: {self.message}"


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def _blank_code(line: str) -> str:
    """The line with inline code spans blanked (same length, so columns stay)."""
    return _CODE_SPAN.sub(lambda m: " " * len(m.group()), line)


def _times_without_zone(text: str) -> list[str]:
    out = []
    for m in _TIME.finditer(text):
        if m.group("iso") or _ZONE_AFTER.match(text, m.end()):
            continue
        out.append(m.group())
    return out


@dataclass
class _Section:
    """The section being read: its kind and, for a table, the column of each header."""

    kind: str = ""
    header: list[str] | None = None


def _section_kind(title: str) -> str:
    if _TIMELINE.search(title):
        return "timeline"
    if _ACTIONS.search(title):
        return "actions"
    return ""


def _check_row(sec: _Section, raw: str, n: int) -> list[Finding]:
    """Rules of the timeline and action-item sections for one item or table row."""
    if sec.kind == "timeline" and not _SOURCE.search(raw):
        return [Finding(n, "timeline-source",
                        "timeline row without a source (a `file:line` code span)")]
    if sec.kind != "actions" or _TODO.search(raw):
        return []
    if raw.lstrip().startswith("|") and sec.header:
        cells = dict(zip(sec.header, _cells(raw), strict=False))
        missing = [k for k in ("owner", "type") if k in cells and cells[k] in ("", "-")]
        missing += [k for k in ("owner", "type") if k not in cells]
    else:
        missing = [k for k in ("owner", "type") if not re.search(rf"\b{k}\s*:\s*\S", raw, re.I)]
    if missing:
        return [Finding(n, "action-item", f"action item without {' and '.join(missing)} "
                        "(give them, or say TODO)")]
    return []


def lint(text: str) -> list[Finding]:
    """The faults of a Markdown postmortem draft, in line order."""
    findings: list[Finding] = []
    sec = _Section()
    fence = ""
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if fence:
            fence = "" if stripped.startswith(fence) else fence
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        heading = _HEADING.match(stripped)
        if heading:
            # Every heading starts a section: the default draft's Detection, Actions and
            # Resolution are subsections of its Timeline but hold no timeline rows.
            sec = _Section(_section_kind(heading.group(2)))
        prose = _blank_code(line)
        for m in BLAME.finditer(prose):
            findings.append(Finding(n, "blame", f"blame word “{m.group()}”: describe what "
                                    "the system did and what let it happen"))
        for t in _times_without_zone(prose):
            findings.append(Finding(n, "time-zone", f"time “{t}” without a zone"))
        if heading or not sec.kind:
            continue
        if stripped.startswith("|"):
            if _TABLE_SEP.match(stripped):
                continue
            if sec.header is None:
                sec.header = [c.lower() for c in _cells(stripped)]
                continue
            findings += _check_row(sec, stripped, n)
        elif _ITEM.match(line):  # top-level items only: nested ones belong to their row
            findings += _check_row(sec, stripped, n)
    return findings
