#!/usr/bin/env python3
"""Where a build's time goes: imports, first pass, second pass, correlator, report.

Runs the same library calls as ``incident-timeline build`` in this process and times each
phase, for the window the build detects and for ``--window`` over the whole file. The
second pass (the window's lines read again) is timed inside the analysis through the
dataset's ``load_rows``, so the correlator's own share
(detection, impact, timeline, causes) is what is left of the analysis. Several rounds,
a fresh interpreter each; medians printed.

    python benchmarks/phases.py benchmarks/out/combined-2000000-outage.log --jobs 2

This is a measuring script, not a test: compare shares within one run (the machine is
shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The Dataset attributes through which the second pass reads lines again.
READERS = ("load_rows",)


def _round(paths: list[str], jobs: int, window: str | None) -> dict[str, float]:
    t0 = time.perf_counter()
    import timeline  # noqa: F401 - timed: the CLI pays for it too
    from timeline.analyze import build
    from timeline.ingest import ReadOptions, epoch_of, read
    from timeline.report import write_report

    t1 = time.perf_counter()
    win = None
    if window:
        a, _, b = window.partition("..")
        win = (epoch_of(a), epoch_of(b))
    dataset = read(paths, ReadOptions(jobs=jobs))
    t2 = time.perf_counter()
    spent = [0.0]

    def timed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            s = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - s
        return wrapper

    for name in READERS:
        if getattr(dataset, name, None) is not None:
            setattr(dataset, name, timed(getattr(dataset, name)))
    analysis = build(dataset, window=win)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_report(analysis, Path(out))
    t4 = time.perf_counter()
    return {"imports": t1 - t0, "first pass": t2 - t1, "second pass": spent[0],
            "correlator": (t3 - t2) - spent[0], "report": t4 - t3, "total": t4 - t0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--windows", default="detected,whole",
                   help="detected, whole (--window over the whole file) or both")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        print(json.dumps(_round(args.paths, args.jobs, args.one or None)))
        return 0
    from run import whole_window

    modes = [m.strip() for m in args.windows.split(",") if m.strip()]
    medians: dict[str, dict[str, float]] = {}
    for mode in modes:
        window = whole_window(Path(args.paths[0])) if mode == "whole" else ""
        rounds = []
        for i in range(args.rounds):
            # A fresh interpreter per round, as for the CLI: imports (and matplotlib's,
            # inside the report) are paid every time.
            done = subprocess.run([sys.executable, __file__, *args.paths, "--jobs",
                                   str(args.jobs), "--one", window], check=True,
                                  capture_output=True, text=True)
            rounds.append(json.loads(done.stdout))
            print(f"{mode} round {i + 1}: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in rounds[-1].items()), file=sys.stderr)
        medians[mode] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(f"{'phase':<14}" + "".join(f"{m + ' s':>12}{'share':>8}" for m in modes))
    for k in next(iter(medians.values())):
        if k == "total":
            continue
        cells = ""
        for m in modes:
            total = sum(v for n, v in medians[m].items() if n != "total")
            cells += f"{medians[m][k]:>12.2f}{medians[m][k] / total:>8.1%}"
        print(f"{k:<14}" + cells)
    print(f"{'total':<14}" + "".join(
        f"{sum(v for n, v in medians[m].items() if n != 'total'):>12.2f}{'':>8}" for m in modes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
