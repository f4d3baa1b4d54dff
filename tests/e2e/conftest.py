"""Fixtures of the end-to-end scenarios: the tools they need, and a harness that cleans up.

The scenarios FAIL (not skip) when Nginx or libfaketime is missing, unless
``INCIDENT_TIMELINE_SKIP_E2E=1`` is set; ``pytest -m "not e2e"`` leaves them out too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RESULTS, SKIP_ENV, E2EUnavailable, Harness, require_tools


@pytest.fixture(scope="session")
def e2e_tools() -> tuple[str, str]:
    """(nginx binary, libfaketime.so.1)."""
    try:
        return require_tools()
    except E2EUnavailable as e:
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{SKIP_ENV}=1: {e}")
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def harness(tmp_path: Path, e2e_tools: tuple[str, str]) -> Iterator[Harness]:
    """A harness in the test's tmp folder; every process it started is killed afterwards
    (also when the test fails), and nothing may be left running or listening."""
    h = Harness(tmp_path, *e2e_tools)
    try:
        yield h
    finally:
        problems = h.shutdown()
        assert not problems, "left over after the scenario:\n" + "\n".join(problems)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The scenario results as a table and as JSON lines (not written to the repository)."""
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("e2e scenario results")
    tr.write_line(
        "scenario | truth start / end / users% | tool start / end / users% / cause | pass | why"
    )
    for r in RESULTS:
        truth = "; ".join(
            f"{t['start'][11:19]} / {t['end'][11:19]} / {t['users_pct']:.1f}"
            for t in r["truth"].get("faults") or [r["truth"]]
        )
        tools = (
            "; ".join(
                f"{i['start'][11:19]} / {i['end'][11:19]} / {i['users_pct']:.1f} / "
                f"{(i['causes'] or ['-'])[0]}"
                for i in r["tool"]
            )
            or "no incident"
        )
        tr.write_line(
            f"{r['scenario']} | {truth} | {tools} | "
            f"{'pass' if r['pass'] else 'FAIL'} | {'; '.join(r['why'])}"
        )
    for r in RESULTS:
        tr.write_line("E2E_RESULT " + json.dumps(r, sort_keys=True))
