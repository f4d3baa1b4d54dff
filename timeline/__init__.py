"""incident-timeline: from the logs of an outage to a draft postmortem.

The library API the CLI uses::

    import timeline
    data = timeline.read(["./outage/"])
    analysis = timeline.build(data)
    timeline.write_report(analysis, Path("report"))

``timeline.plan_read(paths, options).read(progress)`` does the same as ``read`` in two steps,
for a caller that wants the size to parse (``ReadPlan.size``) before parsing starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timeline.analyze import build
    from timeline.errors import (
        InputError,
        NothingRecognisedError,
        TimelineError,
        UsageError,
        WorkerLostError,
    )
    from timeline.ingest import Dataset, ReadOptions, ReadPlan, SourceReport, plan_read, read
    from timeline.model import Analysis, AnalysisOptions, Cause, Entry, Impact, Incident
    from timeline.report import to_json, to_markdown, write_report

#: Where each public name lives. The package loads them on first use (PEP 562), so that
#: ``import timeline.entry`` (the console script) costs nothing before its signal handlers
#: are in place; ``import timeline; timeline.read(...)`` works as before.
_HOMES = {
    "build": "timeline.analyze",
    "InputError": "timeline.errors",
    "NothingRecognisedError": "timeline.errors",
    "TimelineError": "timeline.errors",
    "UsageError": "timeline.errors",
    "WorkerLostError": "timeline.errors",
    "Dataset": "timeline.ingest",
    "ReadOptions": "timeline.ingest",
    "ReadPlan": "timeline.ingest",
    "SourceReport": "timeline.ingest",
    "plan_read": "timeline.ingest",
    "read": "timeline.ingest",
    "Analysis": "timeline.model",
    "AnalysisOptions": "timeline.model",
    "Cause": "timeline.model",
    "Entry": "timeline.model",
    "Impact": "timeline.model",
    "Incident": "timeline.model",
    "to_json": "timeline.report",
    "to_markdown": "timeline.report",
    "write_report": "timeline.report",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'timeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


__all__ = [
    "Analysis",
    "AnalysisOptions",
    "Cause",
    "Dataset",
    "Entry",
    "Impact",
    "Incident",
    "InputError",
    "NothingRecognisedError",
    "ReadOptions",
    "ReadPlan",
    "SourceReport",
    "TimelineError",
    "UsageError",
    "WorkerLostError",
    "build",
    "plan_read",
    "read",
    "to_json",
    "to_markdown",
    "write_report",
]
