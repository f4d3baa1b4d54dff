#!/usr/bin/env python3
"""Time ``incident-timeline build`` against GoAccess and lnav on the same access log.

    python benchmarks/run.py --generate 2000000 --jobs 2 --gzip   # the acceptance run
    python benchmarks/run.py --generate 2000000 10000000 --jobs 2 --no-goaccess  # 2M -> 10M
    python benchmarks/run.py --generate 2000000 --wrapped --windows detected  # + Docker json-file
    python benchmarks/run.py --files /var/log/nginx/access.log --rounds 5 --json

Each build is measured twice: with the window it detects, and with ``--window`` over the
whole file (the first to the last second it logs: the second pass over every line).

Per file and tool: one warm-up read (``cat FILE > /dev/null``) before every round, then
the command; the wall time is measured around the whole process and the peak RSS of its
process tree by sampling /proc (see README.md). Prints a table, or JSON with ``--json``;
exits 1 when a tool fails. Stdlib only; see README.md for the columns and the targets.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
#: Other processes using more than this many CPUs during a run make its timing suspect.
BUSY_WARN = 0.2
LNAV_QUERY = ";SELECT sc_status, count(*) FROM access_log GROUP BY sc_status"

# Acceptance targets (README.md).
SPEEDUP_TARGET = 10.0  # goaccess_time / build_time (detected window) on 2M combined lines
RSS_TARGET_MB = 350.0  # peak RSS of build (either window) at 2M lines
RSS_GROWTH_TARGET = 0.10  # peak RSS growth from the smallest to the largest file
WHOLE_TARGET = 1.3  # build --window over the whole file / build with the detected window
GZIP_TARGET = 1.1  # build on the .gz copy / build on the plain file
WRAPPED_TARGET = 1.5  # build on the Docker json-file copy / build on the plain file


# --------------------------------------------------------------------------------------
# Peak RSS of a process tree
# --------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, rss bytes) from /proc/PID/stat, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ..." - comm may contain spaces and parentheses.
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[1]), int(fields[21]) * PAGE


def _pss(pid: int) -> int:
    """Proportional set size (bytes) from /proc/PID/smaps_rollup: shared pages (a forked
    worker shares the parent's libraries) are split between the processes sharing them,
    so the sum over a tree counts each page once. 0 when unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Sum the RSS of a process and all its descendants every ``interval`` seconds.

    Processes alive before the root started can never be its descendants, so they are read
    once; after that each sample reads /proc/PID/stat only for new pids and known
    descendants. A descendant stays one after its parent exits (reparented to init).
    """

    def __init__(self, root: int, foreign: set[int], interval: float = 0.025) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.foreign = set(foreign)
        self.tree: set[int] = {root}
        self.peak = 0
        self.peak_pss = 0
        self.peak_procs = 1
        self.samples = 0
        self._done = threading.Event()

    def sample(self) -> None:
        pids = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        new = pids - self.foreign - self.tree
        # Parents first, so a child born in the same sample as its parent is recognised.
        for pid in sorted(new):
            st = _stat(pid)
            if st is None:
                continue
            if st[0] in self.tree:
                self.tree.add(pid)
            else:
                self.foreign.add(pid)
        total = 0
        pss = 0
        alive = 0
        for pid in self.tree & pids:
            st = _stat(pid)
            if st is not None:
                total += st[1]
                pss += _pss(pid)
                alive += 1
        self.peak_pss = max(self.peak_pss, pss)
        self.tree &= pids | {self.root}
        self.samples += 1
        if total > self.peak:
            self.peak, self.peak_procs = total, alive

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat, all CPUs)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest is in user.
    busy = vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + (vals[7] if len(vals) > 7 else 0)
    return busy / TICK


def existing_pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


@dataclass
class Run:
    seconds: float
    peak_rss: int  # bytes, whole tree, sampled
    peak_pss: int  # bytes, whole tree (shared pages counted once), sampled
    max_single_rss: int  # bytes, largest single process (wait4 ru_maxrss)
    cpu_seconds: float  # user + system of the tree (wait4: the process and reaped children)
    others_cpus: float  # average CPUs used by everything else on the machine during the run
    returncode: int
    stdout: bytes
    stderr: bytes
    samples: int
    procs_at_peak: int


def measure(cmd: list[str], workdir: Path) -> Run:
    """Run ``cmd`` once; wall time, sampled peak tree RSS, exit status and output."""
    out_path, err_path = workdir / "stdout", workdir / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        before = existing_pids()
        busy0 = busy_cpu_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid, before - {proc.pid})
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        busy = busy_cpu_seconds() - busy0
        sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds=seconds,
        peak_rss=sampler.peak,
        peak_pss=sampler.peak_pss,
        max_single_rss=usage.ru_maxrss * 1024,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        others_cpus=max(0.0, busy - usage.ru_utime - usage.ru_stime) / seconds,
        returncode=proc.returncode,
        stdout=out_path.read_bytes(),
        stderr=err_path.read_bytes(),
        samples=sampler.samples,
        procs_at_peak=sampler.peak_procs,
    )


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def count_lines(path: Path) -> tuple[int, int]:
    """(lines, uncompressed bytes); a last line without a newline counts."""
    opener = gzip.open if path.suffix == ".gz" else open
    lines = size = 0
    last = b"\n"
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    return lines + (last != b"\n"), size


def generate(lines: int, fmt: str) -> Path:
    """benchmarks/out/{combined,custom}-N-outage.log, written by generate.py unless present."""
    path = OUT / f"{fmt}-{lines}-outage.log"
    if path.exists():
        print(f"using {path} (exists)", file=sys.stderr)
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".log.part")
    cmd = [sys.executable, str(HERE / "generate.py"), "--lines", str(lines), "--format", fmt]
    subprocess.run([*cmd, "-o", str(tmp)], check=True, stdout=sys.stderr)
    tmp.rename(path)
    return path


def gzip_copy(path: Path) -> Path:
    """benchmarks/out/NAME.gz (gzip -6), made unless present and newer than ``path``."""
    dest = OUT / (path.name + ".gz")
    if dest.exists() and dest.stat().st_mtime >= path.stat().st_mtime:
        return dest
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".gz.part")
    print(f"compressing {path} -> {dest}", file=sys.stderr)
    if shutil.which("gzip"):
        with open(tmp, "wb") as out:
            subprocess.run(["gzip", "-6", "-n", "-c", str(path)], stdout=out, check=True)
    else:
        with open(path, "rb") as src, open(tmp, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                shutil.copyfileobj(src, gz, 1 << 24)
    tmp.rename(dest)
    return dest


_STAMP = re.compile(rb"\[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\]")
_MONTHS = {m: i for i, m in enumerate(
    (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
     b"Dec"), 1)}


def _epoch(line: bytes) -> float | None:
    """The ``$time_local`` of an access-log line as epoch seconds, or None."""
    m = _STAMP.search(line)
    if m is None:
        return None
    d, mon, y, hh, mm, ss, off = m.groups()
    t = calendar.timegm((int(y), _MONTHS[mon], int(d), int(hh), int(mm), int(ss)))
    sign = -1 if off[:1] == b"-" else 1
    return t - sign * (int(off[1:3]) * 3600 + int(off[3:5]) * 60)


def whole_window(path: Path) -> str:
    """``--window`` covering every line of a plain access log: its first to its last
    second (read from the head and the tail of the file)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16).splitlines()
        f.seek(max(0, path.stat().st_size - (1 << 16)))
        tail = f.read().splitlines()
    times = [t for t in map(_epoch, head + tail) if t is not None]
    if not times:
        raise SystemExit(f"{path}: no $time_local in its first and last lines")
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return (time.strftime(iso, time.gmtime(min(times))) + ".."
            + time.strftime(iso, time.gmtime(max(times) + 1)))


def docker_copy(path: Path) -> Path:
    """benchmarks/out/NAME.docker-json.log: the log as Docker's json-file driver keeps it
    (one record a line, stdout, the line's own time), made unless present and newer."""
    dest = OUT / (path.stem + ".docker-json.log")
    if dest.exists() and dest.stat().st_mtime >= path.stat().st_mtime:
        return dest
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".log.part")
    print(f"wrapping {path} -> {dest}", file=sys.stderr)
    months = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
                                         .split(), 1)}
    stamps: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as src, \
            open(tmp, "w", encoding="utf-8", errors="surrogateescape") as out:
        for line in src:
            local = line[line.find("[") + 1 : line.find("]")]
            stamp = stamps.get(local)
            if stamp is None:
                # 20/Mar/2023:12:30:00 +0000 -> 2023-03-20T12:30:00.000000000Z (offset +0000)
                stamp = stamps[local] = (f"{local[7:11]}-{months.get(local[3:6], 1):02d}-"
                                         f"{local[0:2]}T{local[12:20]}.000000000Z")
            text = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            out.write(json.dumps({"log": text, "stream": "stdout", "time": stamp},
                                 separators=(",", ":"), ensure_ascii=False) + "\n")
    tmp.rename(dest)
    return dest


def warm(path: Path) -> None:
    """The warm-up read: ``cat FILE > /dev/null``."""
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


# --------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str  # row label
    kind: str  # build | goaccess | lnav
    argv: list[str]  # {file} and {tmp} are substituted
    jobs: int | None = None
    gzip: bool = False
    #: build --window over the whole file (else the detected window)
    whole: bool = False
    #: build on the Docker json-file copy of the file
    wrapped: bool = False


@dataclass
class Result:
    tool: Tool
    file: Path  # the file measured
    source: Path  # the uncompressed file it was made from (== file unless a gzip copy)
    lines: int
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    lines_seen: int | None = None  # what the tool says it read, when it says

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs) if self.runs else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs) if self.runs else float("nan")

    @property
    def others(self) -> float:
        return max((r.others_cpus for r in self.runs), default=0.0)

    @property
    def peak_rss(self) -> int:
        return max((r.peak_rss for r in self.runs), default=0)

    @property
    def peak_pss(self) -> int:
        return max((r.peak_pss for r in self.runs), default=0)

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.median if self.runs else float("nan")


def find_build() -> str | None:
    """incident-timeline next to this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "incident-timeline"
    if beside.exists():
        return str(beside)
    return shutil.which("incident-timeline")


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for word in out.replace(",", " ").split():
        if word[:1].isdigit():
            return word.rstrip(".")
    return ""


def check(res: Result, run: Run, tmp: Path) -> str | None:
    """Why the run failed (None: it worked); also records the line count the tool saw."""
    if run.returncode != 0:
        tail = run.stderr.decode(errors="replace").strip().splitlines()[-5:]
        return f"exit status {run.returncode}: " + " | ".join(tail)
    kind = res.tool.kind
    try:
        if kind == "build":
            doc = json.loads((tmp / "timeline.json").read_text())
            res.lines_seen = sum(int(s["lines"]) for s in doc["sources"])
        elif kind == "goaccess":
            doc = json.loads((tmp / "report.json").read_text())
            res.lines_seen = int(doc["general"]["total_requests"])
        elif kind == "lnav":
            rows = [ln.split() for ln in run.stdout.decode(errors="replace").splitlines()]
            counts = [int(r[1]) for r in rows if len(r) == 2 and r[0].isdigit()]
            if not counts:
                return "lnav printed no result rows (format not recognised?)"
            res.lines_seen = sum(counts)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable output: {exc}"
    return None


def run_tool(res: Result, rounds: int, quiet: bool) -> None:
    for i in range(rounds):
        warm(res.file)
        tmp = Path(tempfile.mkdtemp(prefix="run-", dir=OUT))
        try:
            argv = [a.format(file=res.file, tmp=tmp) for a in res.tool.argv]
            if not quiet:
                print(
                    f"  {res.tool.name} round {i + 1}/{rounds}: {' '.join(argv)}", file=sys.stderr
                )
            run = measure(argv, tmp)
            err = check(res, run, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if err is not None:
            res.error = err
            return
        res.runs.append(run)
        if not quiet:
            print(
                f"    {run.seconds:.2f} s, peak RSS {run.peak_rss / 1e6:.0f} MB "
                f"({run.samples} samples)",
                file=sys.stderr,
            )


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def fmt_lps(x: float) -> str:
    if x != x:  # nan
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def targets(results: list[Result]) -> list[dict[str, Any]]:
    """Acceptance checks that the measured rows allow."""
    out: list[dict[str, Any]] = []
    by_file: dict[Path, list[Result]] = {}
    for r in results:
        by_file.setdefault(r.source, []).append(r)
    # The absolute memory target is for the 2M-line file: checked on the smallest one.
    smallest = min((r.lines for r in results if not r.tool.gzip), default=0)
    for path, rows in by_file.items():
        goa = next((r for r in rows if r.tool.kind == "goaccess" and r.runs), None)
        for r in rows:
            if r.tool.kind != "build" or not r.runs:
                continue
            twin = next((o for o in rows if o.tool.kind == "build" and o.runs
                         and o.tool.jobs == r.tool.jobs and not o.tool.gzip
                         and not o.tool.whole), None)
            if r.tool.whole and not r.tool.gzip and twin is not None:
                ratio = r.median / twin.median
                out.append(
                    {
                        "target": f"whole-file window / detected <= {WHOLE_TARGET:g}",
                        "row": r.tool.name,
                        "file": str(path),
                        "value": round(ratio, 2),
                        "met": ratio <= WHOLE_TARGET,
                    }
                )
            if goa is not None and not r.tool.gzip and not r.tool.whole:
                ratio = goa.median / r.median
                out.append(
                    {
                        "target": f"goaccess/build >= {SPEEDUP_TARGET:g}",
                        "row": r.tool.name,
                        "file": str(path),
                        "value": round(ratio, 2),
                        "met": ratio >= SPEEDUP_TARGET,
                    }
                )
            if not r.tool.gzip and r.lines == smallest:
                mb = r.peak_rss / 1e6
                out.append(
                    {
                        "target": f"peak RSS <= {RSS_TARGET_MB:g} MB (at 2M lines)",
                        "row": r.tool.name,
                        "file": str(path),
                        "value": round(mb, 1),
                        "met": mb <= RSS_TARGET_MB,
                    }
                )
            plain = next((o for o in rows if o.tool.kind == "build" and o.runs
                          and o.tool.jobs == r.tool.jobs and not o.tool.gzip
                          and o.tool.whole == r.tool.whole), None)
            if r.tool.gzip and plain is not None:
                ratio = r.median / plain.median
                out.append(
                    {
                        "target": f"gzip / plain time <= {GZIP_TARGET:g}",
                        "row": r.tool.name,
                        "file": str(r.file),
                        "value": round(ratio, 2),
                        "met": ratio <= GZIP_TARGET,
                    }
                )
    # A wrapped copy costs at most WRAPPED_TARGET times the plain file (same jobs, same run).
    for r in results:
        if r.tool.wrapped and r.runs:
            plain = next((p for p in results if p.source == r.source and p.runs
                          and p.tool.kind == "build" and not p.tool.gzip and not p.tool.whole
                          and not p.tool.wrapped and p.tool.jobs == r.tool.jobs), None)
            if plain is not None:
                ratio = r.median / plain.median
                out.append({"target": f"wrapped / plain time <= {WRAPPED_TARGET:g}",
                            "row": r.tool.name, "file": str(r.file),
                            "value": round(ratio, 2), "met": ratio <= WRAPPED_TARGET})
    # Memory growth from the smallest to the largest plain file, per jobs value and window.
    builds = [r for r in results if r.tool.kind == "build" and not r.tool.gzip
              and not r.tool.wrapped and r.runs]
    for jobs, whole in sorted({(r.tool.jobs or 0, r.tool.whole) for r in builds}):
        rows = sorted((r for r in builds if (r.tool.jobs or 0) == jobs
                       and r.tool.whole == whole), key=lambda r: r.lines)
        if len(rows) >= 2 and rows[-1].lines > rows[0].lines:
            growth = rows[-1].peak_rss / rows[0].peak_rss - 1
            out.append(
                {
                    "target": f"peak RSS growth <= +{RSS_GROWTH_TARGET:.0%}",
                    "row": rows[-1].tool.name,
                    "file": f"{rows[0].lines:,} -> {rows[-1].lines:,} lines",
                    "value": round(100 * growth, 1),
                    "met": growth <= RSS_GROWTH_TARGET,
                }
            )
    return out


def to_json(results: list[Result], rounds: int, tools: dict[str, str]) -> dict[str, Any]:
    goa = {r.source: r.median for r in results if r.tool.kind == "goaccess" and r.runs}
    rows = []
    for r in results:
        plain = r.source
        rows.append(
            {
                "tool": r.tool.name,
                "kind": r.tool.kind,
                "jobs": r.tool.jobs,
                "gzip": r.tool.gzip,
                "whole_file_window": r.tool.whole,
                "file": str(r.file),
                "source": str(r.source),
                "lines": r.lines,
                "lines_seen": r.lines_seen,
                "error": r.error,
                "seconds": [round(x.seconds, 3) for x in r.runs],
                "median_s": round(r.median, 3) if r.runs else None,
                "median_cpu_s": round(r.cpu, 3) if r.runs else None,
                "max_other_cpus": round(r.others, 2) if r.runs else None,
                "lines_per_s": round(r.lines_per_s) if r.runs else None,
                "peak_rss_mb": round(r.peak_rss / 1e6, 1) if r.runs else None,
                "peak_pss_mb": round(r.peak_pss / 1e6, 1) if r.runs else None,
                "max_single_process_rss_mb": (
                    round(max(x.max_single_rss for x in r.runs) / 1e6, 1) if r.runs else None
                ),
                "goaccess_over_this": (
                    round(goa[plain] / r.median, 2) if r.runs and plain in goa else None
                ),
            }
        )
    return {"rounds": rounds, "versions": tools, "results": rows, "targets": targets(results)}


def print_table(results: list[Result], rounds: int, sizes: dict[Path, int]) -> None:
    files: list[Path] = []
    for r in results:
        if r.file not in files:
            files.append(r.file)
    goa = {r.source: r.median for r in results if r.tool.kind == "goaccess" and r.runs}
    print(f"rounds: {rounds} (median shown), warm cache, {os.cpu_count()} CPUs")
    for f in files:
        rows = [r for r in results if r.file == f]
        plain = rows[0].source
        print(f"\n{f}: {rows[0].lines:,} lines, {sizes[f] / 1e6:,.1f} MB on disk")
        head = (
            f"{'tool':<44} {'median s':>9} {'lines/s':>9} {'peak RSS MB':>12} "
            f"{'peak PSS MB':>12} {'goaccess/x':>11} {'cpu s':>7}"
        )
        print(head)
        print("-" * len(head))
        for r in rows:
            if not r.runs:
                print(f"{r.tool.name:<44} FAILED: {r.error}")
                continue
            ratio = f"{goa[plain] / r.median:.1f}" if plain in goa else "-"
            print(
                f"{r.tool.name:<44} {r.median:>9.2f} {fmt_lps(r.lines_per_s):>9} "
                f"{r.peak_rss / 1e6:>12.0f} {r.peak_pss / 1e6:>12.0f} {ratio:>11} {r.cpu:>7.1f}"
            )
        for r in rows:
            if r.runs and r.others > BUSY_WARN:
                print(
                    f"  note: {r.tool.name}: other processes used up to {r.others:.2f} CPUs "
                    "during its runs; its time is inflated"
                )
            if r.runs and r.lines_seen is not None and r.lines_seen != r.lines:
                print(f"  note: {r.tool.name} counted {r.lines_seen:,} of {r.lines:,} lines")
    checks = targets(results)
    if checks:
        print("\ntargets:")
        for c in checks:
            mark = "met" if c["met"] else "NOT met"
            print(f"  {c['target']:<44} {c['row']:<44} {c['value']:>8}  {mark}  ({c['file']})")


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", nargs="+", default=[], help="access logs to measure")
    p.add_argument(
        "--generate",
        nargs="+",
        type=int,
        default=[],
        metavar="N",
        help="generate N-line logs into benchmarks/out/ (if missing) and measure them",
    )
    p.add_argument(
        "--format",
        choices=("combined", "custom"),
        default="combined",
        help="format for --generate (default combined)",
    )
    p.add_argument("--jobs", default="1,2", help="build --jobs values, comma-separated")
    p.add_argument("--rounds", type=int, default=3, help="rounds per tool (median reported)")
    p.add_argument("--gzip", action="store_true", help="also build on a .gz copy of each file")
    p.add_argument("--wrapped", action="store_true",
                   help="also build on a Docker json-file copy of each file")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--no-goaccess", action="store_true", help="skip GoAccess")
    p.add_argument("--no-lnav", action="store_true", help="skip lnav")
    p.add_argument(
        "--windows",
        default="detected,whole",
        help="which builds: detected (the window it finds), whole (--window over the whole "
        "file); comma-separated, default both",
    )
    p.add_argument("--build", default=None, help="incident-timeline executable")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    try:
        jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    except ValueError:
        p.error("--jobs takes comma-separated integers, e.g. 1,2")
    if not args.files and not args.generate:
        p.error("give --files or --generate N")
    modes = [m.strip() for m in args.windows.split(",") if m.strip()]
    if not modes or set(modes) - {"detected", "whole"}:
        p.error("--windows takes detected, whole or both")

    build = args.build or find_build()
    if build is None:
        print("incident-timeline is not installed (or give --build)", file=sys.stderr)
        return 1
    goaccess = None if args.no_goaccess else shutil.which("goaccess")
    lnav = None if args.no_lnav else shutil.which("lnav")
    versions = {"incident-timeline": build}
    if goaccess:
        versions["goaccess"] = version([goaccess, "--version"])
    if lnav:
        versions["lnav"] = version([lnav, "-V"])
    for name in ("goaccess", "lnav"):
        if name not in versions and not getattr(args, f"no_{name}"):
            print(f"{name} is not installed: skipped", file=sys.stderr)

    files = [generate(n, args.format) for n in args.generate]
    files += [Path(f) for f in args.files]
    for f in files:
        if not f.is_file():
            print(f"{f}: no such file", file=sys.stderr)
            return 1
    OUT.mkdir(parents=True, exist_ok=True)

    results: list[Result] = []
    sizes: dict[Path, int] = {}
    for f in files:
        lines, _ = count_lines(f)
        sizes[f] = f.stat().st_size
        compressed = f.suffix == ".gz"
        window = [] if compressed or "whole" not in modes else ["--window", whole_window(f)]
        tools = [
            Tool(
                f"incident-timeline build -j{j}" + (" (gzip)" if compressed else ""),
                "build",
                [build, "build", "{file}", "-o", "{tmp}", "-q", "--jobs", str(j)],
                j,
                compressed,
            )
            for j in jobs
            if compressed or "detected" in modes
        ]
        tools += [
            Tool(
                f"incident-timeline build -j{j} --window (whole)",
                "build",
                [build, "build", "{file}", "-o", "{tmp}", "-q", "--jobs", str(j), *window],
                j,
                False,
                True,
            )
            for j in jobs
            if window
        ]
        if not compressed and goaccess:
            tools.append(
                Tool(
                    f"goaccess {versions['goaccess']} (JSON report)",
                    "goaccess",
                    [
                        goaccess,
                        "{file}",
                        "--log-format=COMBINED",
                        "-o",
                        "{tmp}/report.json",
                        "--no-progress",
                    ],
                )
            )
        if not compressed and lnav:
            tools.append(
                Tool(
                    f"lnav {versions['lnav']} (SQL count by status)",
                    "lnav",
                    [lnav, "-n", "-c", LNAV_QUERY, "{file}"],
                )
            )
        gz = f
        if args.gzip and not compressed:
            gz = gzip_copy(f)
            sizes[gz] = gz.stat().st_size
            gz_tools = [
                Tool(
                    f"incident-timeline build -j{j} (gzip)",
                    "build",
                    [build, "build", "{file}", "-o", "{tmp}", "-q", "--jobs", str(j)],
                    j,
                    True,
                )
                for j in jobs
                if "detected" in modes
            ]
        else:
            gz_tools = []
        wrapped = f
        if args.wrapped and not compressed:
            wrapped = docker_copy(f)
            sizes[wrapped] = wrapped.stat().st_size
            gz_tools += [
                Tool(f"incident-timeline build -j{j} (docker json-file)", "build",
                     [build, "build", "{file}", "-o", "{tmp}", "-q", "--jobs", str(j)],
                     j, False, False, True)
                for j in jobs
                if "detected" in modes
            ]
        for tool in tools:
            res = Result(tool, f, f, lines)
            run_tool(res, args.rounds, args.json)
            results.append(res)
        for tool in gz_tools:
            res = Result(tool, wrapped if tool.wrapped else gz, f, lines)
            run_tool(res, args.rounds, args.json)
            results.append(res)

    if args.json:
        json.dump(to_json(results, args.rounds, versions), sys.stdout, indent=2)
        print()
    else:
        print_table(results, args.rounds, sizes)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"error: {r.tool.name} on {r.file}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
