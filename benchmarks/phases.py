#!/usr/bin/env python3
"""Where a build's time goes: imports, first pass, second pass, correlator, report.

Runs the same library calls as ``incident-timeline build`` in this process and times each
phase; the second pass (full rows read back for the windows) is timed inside the analysis
through the dataset's ``load_rows``, so the correlator's own share (detection, impact,
timeline, causes) is what is left of the analysis. Several rounds; medians printed.

    python benchmarks/phases.py benchmarks/out/combined-2000000.log --jobs 2 --rounds 3

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


def _round(paths: list[str], jobs: int) -> dict[str, float]:
    t0 = time.perf_counter()
    import timeline  # noqa: F401 - timed: the CLI pays for it too
    from timeline.analyze import build
    from timeline.ingest import ReadOptions, read
    from timeline.report import write_report

    t1 = time.perf_counter()
    dataset = read(paths, ReadOptions(jobs=jobs))
    t2 = time.perf_counter()
    spent = [0.0]
    load = dataset.load_rows

    def timed_load(lo: float, hi: float):  # type: ignore[no-untyped-def]
        s = time.perf_counter()
        try:
            return load(lo, hi)
        finally:
            spent[0] += time.perf_counter() - s

    dataset.load_rows = timed_load
    analysis = build(dataset)
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
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(_round(args.paths, args.jobs)))
        return 0
    rounds = []
    for i in range(args.rounds):
        # A fresh interpreter per round, as for the CLI: imports (and matplotlib's, inside
        # the report) are paid every time.
        done = subprocess.run([sys.executable, __file__, *args.paths, "--jobs",
                               str(args.jobs), "--one"], check=True, capture_output=True,
                              text=True)
        rounds.append(json.loads(done.stdout))
        print(f"round {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in rounds[-1].items()),
              file=sys.stderr)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    total = sum(v for k, v in med.items() if k != "total")
    print(f"{'phase':<14}{'median s':>10}{'share':>8}")
    for k, v in med.items():
        if k != "total":
            print(f"{k:<14}{v:>10.2f}{v / total:>8.1%}")
    print(f"{'total':<14}{total:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
