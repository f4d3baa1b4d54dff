"""Shared fixtures: small hand-built datasets for the correlator."""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from parsers.base import EVENT_KEYS, REQUEST_COLUMNS
from timeline.ingest import Dataset, SourceReport, _events_frame, dataset_from_rows

T0 = calendar.timegm((2023, 3, 20, 11, 0, 0, 0, 0, 0))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files from the current output")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long fuzz run (minutes) only when ``-m`` names it (``pytest -m fuzz``): not in
    a plain ``pytest`` nor in ``pytest -m "not e2e"``."""
    if "fuzz" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the long fuzz run: pytest -m fuzz")
    for item in items:
        if item.get_closest_marker("fuzz"):
            item.add_marker(skip)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def request_row(ts: float, client: str, status: int, host: str = "lb-1", *,
                path: str = "/", ua: str = "Mozilla/5.0", xff: str = "",
                line: int = 0) -> dict[str, Any]:
    """One row of the requests table, the way a parser chunk carries it."""
    row: dict[str, Any] = dict.fromkeys(REQUEST_COLUMNS, "")
    row.update(ts=float(ts), client=client, status=status, bytes_sent=100, method="GET",
               path=path, protocol="HTTP/1.1", user_agent=ua, forwarded_for=xff,
               request_time=float("nan"), upstream_time=float("nan"), line=line, host=host,
               source=0)
    return row


def event_row(ts: float, kind: str, host: str, message: str = "", *, severity: str = "error",
              end: float | None = None, attrs: dict[str, Any] | None = None,
              line: int = 1, source_file: str = "error.log",
              parser: str = "nginx_error") -> dict[str, Any]:
    """One row of the events table."""
    row: dict[str, Any] = dict.fromkeys(EVENT_KEYS)
    row.update(ts=float(ts), end=end, kind=kind, severity=severity, host=host,
               message=message or kind, sample=message or kind, count=1, attrs=attrs or {},
               line=line, source_file=source_file, parser=parser)
    return row


def make_dataset(rows: list[dict[str, Any]], events: list[dict[str, Any]] | None = None
                 ) -> Dataset:
    """A Dataset from rows, as :func:`timeline.read` would build it."""
    for i, r in enumerate(rows):
        r["line"] = r["line"] or i + 1
    frame = pd.DataFrame(rows)
    sources = [SourceReport("access.log", "nginx_access", "lb-1")]
    return dataset_from_rows(frame, _events_frame(events or []), sources)


@pytest.fixture
def traffic() -> Callable[..., list[dict[str, Any]]]:
    """Steady traffic: ``per_min`` requests a minute from ``users`` users for ``minutes``."""

    def make(minutes: int = 180, per_min: int = 40, users: int = 400, host: str = "lb-1",
             seed: int = 7, fail: Callable[[float, str], bool] | None = None,
             drop: Callable[[float, str], bool] | None = None, xff: bool = False
             ) -> list[dict[str, Any]]:
        rnd = random.Random(seed)
        pool = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(users)]
        rows = []
        for m in range(minutes):
            for k in range(per_min):
                ts = T0 + m * 60 + k * 60 / per_min + rnd.random()
                user = rnd.choice(pool)
                if drop is not None and drop(ts, user):
                    continue
                status = 502 if fail is not None and fail(ts, user) else 200
                if rnd.random() < 0.02:
                    status = 404
                rows.append(request_row(ts, "10.0.0.10" if xff else user, status, host,
                                        xff=user if xff else ""))
        return rows

    return make
