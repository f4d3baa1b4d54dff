"""The seed outage re-wrapped in each container/journald/log-store format
(``sample_logs/rewrap.py``) gives the same incident as the plain files."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

import timeline
from timeline.report import to_json

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
_spec = importlib.util.spec_from_file_location("rewrap", ROOT / "sample_logs" / "rewrap.py")
assert _spec is not None and _spec.loader is not None
rewrap = importlib.util.module_from_spec(_spec)
sys.modules["rewrap"] = rewrap  # (its dataclasses look their module up)
_spec.loader.exec_module(rewrap)


def _incidents(data: timeline.Dataset) -> list[dict[str, Any]]:
    """The incident fields of a build, without the paths of the files they cite."""
    doc = json.loads(to_json(timeline.build(data)))
    out = []
    for inc in doc["incidents"]:
        detection = dict(inc["detection"])
        detection.pop("source", None)  # the alert file's path differs; its line does not
        out.append({
            "window": (inc["start"], inc["end"], inc["duration_s"]),
            "impact": inc["impact"],
            "detection": detection,
            "causes": [(c["kind"], c.get("host"), c.get("summary")) for c in inc["causes"]],
            "timeline": [(e["ts"], e["kind"], e.get("host"), e["text"])
                         for e in inc["timeline"]],
        })
    return out


@pytest.fixture(scope="module")
def plain() -> list[dict[str, Any]]:
    got = _incidents(timeline.read([str(SEED)]))
    assert len(got) == 1
    return got


@pytest.fixture(scope="module")
def without_xff(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The seed's incident when its access logs are combined (no X-Forwarded-For): what a
    store that keeps parsed fields only (ECS, Cloud Logging's httpRequest) still has."""
    out = tmp_path_factory.mktemp("combined")
    shutil.copytree(SEED, out, dirs_exist_ok=True)
    for log in out.glob("*/access.log"):
        log.write_bytes(re.sub(rb' "[^"]*"$', b"", log.read_bytes(), flags=re.M))
    return _incidents(timeline.read([str(out)]))


#: The wrapper each format is read as (the S3 export is a time in front of each line).
WRAPPER = {"cloudwatch-s3": "timestamped", "elasticsearch-ecs": "elasticsearch-ndjson",
           "gcp-http": "gcp-logging-jsonl"}
#: Formats that keep parsed fields, not the line: X-Forwarded-For is lost.
FIELDS_ONLY = ("elasticsearch-ecs", "gcp-http")
CASES = [(name, 16384) for name in rewrap.FORMATS] + [("docker-json", 60), ("cri", 60)]


@pytest.mark.parametrize(("fmt", "split"), CASES, ids=[f"{f}-{s}" for f, s in CASES])
def test_rewrapped_seed_gives_the_same_incident(
    fmt: str, split: int, tmp_path: Path, plain: list[dict[str, Any]],
    without_xff: list[dict[str, Any]],
) -> None:
    rewrap.rewrap(SEED, fmt, tmp_path, split)
    data = timeline.read([str(tmp_path)])
    for rep in data.sources:
        assert rep.lines == rep.parsed + rep.rejected + rep.skipped
        assert rep.rejected == 0, (rep.path, rep.rejects)
        if rep.format != "alertmanager":
            assert rep.wrapper == WRAPPER.get(fmt, fmt)
    assert _incidents(data) == (without_xff if fmt in FIELDS_ONLY else plain)


def test_fields_only_exports_lose_the_forwarded_for_and_so_the_edge(
    plain: list[dict[str, Any]], without_xff: list[dict[str, Any]]
) -> None:
    # Why FIELDS_ONLY compare with the combined copy: without X-Forwarded-For every host
    # looks like an edge, and the proxied requests count twice.
    assert plain[0]["impact"]["requests_total"] < without_xff[0]["impact"]["requests_total"]
