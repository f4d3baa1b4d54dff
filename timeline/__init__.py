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

from timeline.analyze import build
from timeline.errors import InputError, NothingRecognisedError, TimelineError, UsageError
from timeline.ingest import Dataset, ReadOptions, ReadPlan, SourceReport, plan_read, read
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
    "ReadPlan",
    "SourceReport",
    "TimelineError",
    "UsageError",
    "build",
    "plan_read",
    "read",
    "to_json",
    "to_markdown",
    "write_report",
]
