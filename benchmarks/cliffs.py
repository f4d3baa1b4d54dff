#!/usr/bin/env python3
"""Performance cliffs: what many distinct error messages or many alerts add to a build.

    python benchmarks/cliffs.py                      # 20,000 messages, 50,000 alerts
    python benchmarks/cliffs.py --messages 5000 20000 --alerts 10000 50000 --json

Each case is the seed outage (``sample_logs/seed-outage``) copied into
``benchmarks/out/cliffs/`` plus one file:

- ``messages-N``: ``lb-1/error-extra.log``, N distinct ``[error]`` messages (each a different
  upstream header name, so no template folds two of them into one), half inside the incident
  window and half in the hour before it, so every one is a group ``narrate`` must weigh;
- ``alerts-N``: ``alertmanager/flood.jsonl``, N Alertmanager webhook notifications of
  distinct alert names firing inside the window (the chart draws each one).

The base build (the seed alone) is timed in the same run, so the figure reported is the time
a case *adds* (median of ``--rounds``), a ratio on this machine rather than an absolute time.
Exits 1 when a case adds more than ``--limit`` seconds (10, the acceptance bound of issue 14)
or a build fails. Stdlib only; writes only under ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = ROOT / "sample_logs" / "seed-outage"
OUT = HERE / "out" / "cliffs"
#: The seed's incident window, and the hour before it (UTC).
WINDOW = (12 * 3600 + 31 * 60, 14 * 3600 + 10 * 60)
BEFORE = (11 * 3600 + 55 * 60, 12 * 3600 + 25 * 60)


def _word(i: int) -> str:
    """A letters-only name for ``i`` (no digits: templates fold numbers)."""
    s = ""
    i += 26 * 26 * 26
    while i:
        i, r = divmod(i, 26)
        s = chr(97 + r) + s
    return s


def _hms(t: int) -> str:
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def messages_case(n: int) -> Path:
    """The seed plus ``n`` distinct error messages on lb-1 (made once)."""
    folder = OUT / f"messages-{n}"
    if folder.exists():
        return folder
    tmp = Path(tempfile.mkdtemp(dir=OUT.parent))
    shutil.copytree(SEED, tmp / "d")
    lines = []
    for i in range(n):
        lo, hi = WINDOW if i % 2 == 0 else BEFORE
        t = lo + (i * 7919) % (hi - lo)
        lines.append((t, f"2023/03/20 {_hms(t)} [error] 2723#2723: *{1000 + i} upstream sent "
                      f'invalid header "x-{_word(i)}" while reading response header from '
                      f"upstream, client: 127.0.0.1, server: shop.example.com, "
                      f'request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:52769/", '
                      f'host: "shop.example.com"'))
    lines.sort()
    (tmp / "d" / "lb-1" / "error-extra.log").write_text("".join(f"{x}\n" for _, x in lines))
    (tmp / "d").rename(folder)
    shutil.rmtree(tmp)
    return folder


def alerts_case(n: int) -> Path:
    """The seed plus ``n`` firing alerts of distinct names in the window (made once)."""
    folder = OUT / f"alerts-{n}"
    if folder.exists():
        return folder
    tmp = Path(tempfile.mkdtemp(dir=OUT.parent))
    shutil.copytree(SEED, tmp / "d")
    with (tmp / "d" / "alertmanager" / "flood.jsonl").open("w") as f:
        for i in range(n):
            t = WINDOW[0] + (i * 7919) % (WINDOW[1] - WINDOW[0])
            name = f"Flood{_word(i).capitalize()}"
            alert = {"status": "firing", "labels": {"alertname": name, "severity": "warning",
                                                    "instance": "lb-1:9113"},
                     "annotations": {"summary": f"{name} fired"},
                     "startsAt": f"2023-03-20T{_hms(t)}Z", "endsAt": "0001-01-01T00:00:00Z",
                     "fingerprint": f"{i:016x}"}
            f.write(json.dumps({"receiver": "sre", "status": "firing", "alerts": [alert],
                                "groupLabels": {"alertname": name},
                                "commonLabels": alert["labels"], "version": "4"}) + "\n")
    (tmp / "d").rename(folder)
    shutil.rmtree(tmp)
    return folder


def build_seconds(folder: Path, build: list[str]) -> float:
    """Wall time of one ``build`` of ``folder`` (quiet, report into a scratch folder)."""
    with tempfile.TemporaryDirectory(dir=OUT.parent) as out:
        t = time.perf_counter()
        subprocess.run([*build, "build", str(folder), "-o", str(Path(out) / "r"), "-q"],
                       check=True, stdin=subprocess.DEVNULL)
        return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    """Time the base and every case; print the table (or JSON)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, nargs="*", default=[20_000])
    p.add_argument("--alerts", type=int, nargs="*", default=[50_000])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--limit", type=float, default=10.0, help="seconds a case may add")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("incident-timeline", path=str(Path(sys.executable).parent))
    build = [exe] if exe else [sys.executable, "-m", "timeline"]
    env_note = os.environ.get("PYTHONPATH", "")
    cases = [("base", SEED)]
    cases += [(f"{n} distinct error messages", messages_case(n)) for n in args.messages]
    cases += [(f"{n} alerts", alerts_case(n)) for n in args.alerts]
    times: dict[str, float] = {}
    for name, folder in cases:
        times[name] = statistics.median(build_seconds(folder, build) for _ in range(args.rounds))
    base = times["base"]
    rows = [{"case": k, "seconds": round(v, 2), "added": round(v - base, 2)}
            for k, v in times.items()]
    over = [r for r in rows if r["case"] != "base" and r["added"] > args.limit]
    if args.json:
        print(json.dumps({"rounds": args.rounds, "limit": args.limit, "cases": rows,
                          "pythonpath": env_note}, indent=2))
    else:
        print(f"{'case':<34} {'build s':>8} {'added s':>8}")
        for r in rows:
            print(f"{r['case']:<34} {r['seconds']:>8.2f} {r['added']:>8.2f}")
    for r in over:
        print(f"over the limit: {r['case']} adds {r['added']} s (> {args.limit} s)",
              file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
