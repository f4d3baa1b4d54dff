"""incident-timeline: from the logs of an outage to a draft postmortem.

The library API the CLI uses::

    import timeline
    data = timeline.read(["./outage/"])
    analysis = timeline.build(data)
    timeline.write_report(analysis, Path("report"))
"""

from __future__ import annotations

from timeline.analyze import build
from timeline.errors import InputError, NothingRecognisedError, TimelineError, UsageError
from timeline.ingest import Dataset, ReadOptions, SourceReport, read
from timeline.model import Analysis, AnalysisOptions, Cause, Entry, Impact, Incident
from timeline.report import to_json, to_markdown, write_report

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
    "SourceReport",
    "TimelineError",
    "UsageError",
    "build",
    "read",
    "to_json",
    "to_markdown",
    "write_report",
]
