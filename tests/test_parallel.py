"""Parallel and distributed parsing give byte-identical results to the serial run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import timeline
from parsers.base import ParseOptions
from timeline import engine

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"


def _report(paths: list[str], **opts: object) -> tuple[str, ...]:
    from timeline.report.chart import chart_data
    from timeline.report.html import to_html
    from timeline.report.jsonl import to_jsonl
    from timeline.report.svg import to_svg

    data = timeline.read(paths, timeline.ReadOptions(**opts))  # type: ignore[arg-type]
    analysis = timeline.build(data)
    return (timeline.to_json(analysis), timeline.to_markdown(analysis), to_html(analysis),
            to_svg(chart_data(analysis)), to_jsonl(analysis))


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    # Split even the small sample files into many byte ranges (cut at line boundaries).
    monkeypatch.setattr(engine, "SPLIT_BYTES", 64 << 10)
    # And each range into many blocks, so that block edges fall everywhere.
    monkeypatch.setattr(engine, "READ_BYTES", 3000)


@pytest.mark.parametrize("read_bytes", [7, 1000, 1 << 20])
def test_byte_ranges_cover_every_line_once(tmp_path: Path, read_bytes: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "READ_BYTES", read_bytes)
    monkeypatch.setattr(engine, "SPLIT_BYTES", 16 << 10)  # several ranges
    f = tmp_path / "a.log"
    lines = [f"line {i} " + "x" * (i % 37) + "\n" for i in range(5000)]
    f.write_text("".join(lines))
    size = f.stat().st_size
    whole = engine.Task(0, str(f), "nginx_access", ParseOptions(display_path="a.log"))
    tasks = engine.plan(whole, size=size, jobs=3)
    assert len(tasks) > 1 and all(t.options is whole.options for t in tasks)
    got: list[bytes] = []
    for t in tasks:
        blocks = list(engine._range_blocks(t.path, t.start, t.end or size, 1 << 20, []))
        assert all(b.endswith(b"\n") for b in blocks)
        got.extend(ln for b in blocks for ln in b.splitlines(keepends=True))
    assert [g.decode() for g in got] == lines


def test_blocks_cut_at_newlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "READ_BYTES", 10)
    data = b"".join(b"%d %s\n" % (i, b"y" * (i % 23)) for i in range(300)) + b"tail"
    blocks = list(engine._split(data))
    assert b"".join(blocks) == data and len(blocks) > 100
    assert all(b.endswith(b"\n") for b in blocks[:-1]) and blocks[-1].endswith(b"tail")


def test_jobs_2_identical_to_jobs_1(small_ranges: None) -> None:
    serial = _report([str(SEED)], jobs=1)
    parallel = _report([str(SEED)], jobs=2)
    assert parallel == serial
    assert '"lines": 8911' in parallel[0]


def test_progress_adds_up_to_the_planned_size(small_ranges: None, tmp_path: Path) -> None:
    import gzip

    lb = tmp_path / "lb-1" / "access.log.gz"
    lb.parent.mkdir()
    with gzip.open(lb, "wb") as fh:
        fh.write((SEED / "lb-1" / "access.log").read_bytes())
    for jobs in (1, 2):
        planned = timeline.plan_read([str(SEED), str(tmp_path)], timeline.ReadOptions(jobs=jobs))
        seen: list[int] = []
        planned.read(seen.append)
        assert len(seen) > 2 and sum(seen) == planned.size


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="dask.distributed not installed (pip install -e '.[dask]')")
def test_dask_scheduler_identical_to_local(small_ranges: None) -> None:
    from distributed import LocalCluster

    serial = _report([str(SEED)], jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        distributed = _report([str(SEED)], scheduler=cluster.scheduler_address)
    assert distributed == serial


def test_gzip_blocks_in_parallel_identical_to_plain(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import shutil

    copy = tmp_path / "seed"
    shutil.copytree(SEED, copy)
    plain = _report([str(copy)], jobs=1)
    lb = copy / "lb-1" / "access.log"
    with gzip.open(lb.with_name("access.log.gz"), "wb") as fh:
        fh.write(lb.read_bytes())
    lb.unlink()
    # Cut the compressed file into many blocks of lines for two workers.
    monkeypatch.setattr(engine, "SPLIT_BYTES", 64 << 10)
    # And each range into many blocks, so that block edges fall everywhere.
    monkeypatch.setattr(engine, "READ_BYTES", 3000)
    monkeypatch.setattr(engine, "BLOCK_BYTES", 128 << 10)
    js, md, *_ = _report([str(copy)], jobs=2)
    assert js.replace("access.log.gz", "access.log") == plain[0]
    assert md.replace("access.log.gz", "access.log") == plain[1]
