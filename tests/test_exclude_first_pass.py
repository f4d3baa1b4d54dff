"""--exclude-client reaches the first pass: excluded clients' requests are not counted
for detection either (like monitoring probes), by address and by user agent, in the
hand-written combined parser and in a custom log_format."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from timeline.cli import app

runner = CliRunner()
START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
MONITOR_UA = "acme-synthetics/2.0 (deep check)"


def _write_log(path: Path, timed: bool = False) -> None:
    """Three hours of healthy users; an in-house monitor (an agent no probe list knows)
    whose deep check fails for 30 minutes in the middle while users are served."""
    rnd = random.Random(5)
    users = [f"203.0.113.{i}" for i in range(1, 200)]
    rows: list[tuple[datetime, str]] = []
    for s in range(0, 3 * 3600, 2):
        t = START + timedelta(seconds=s)
        client = rnd.choice(users)
        line = (f'{client} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET /shop HTTP/1.1" 200 512 '
                f'"-" "Mozilla/5.0"')
        rows.append((t, line + (" rt=0.020" if timed else "")))
        if s % 4 == 0:
            status = 503 if 3600 <= s < 5400 else 200
            line = (f'10.9.0.5 - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET /api/deep-check HTTP/1.1" '
                    f'{status} 20 "-" "{MONITOR_UA}"')
            rows.append((t, line + (" rt=0.010" if timed else "")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for _, line in rows))


def _incidents(args: list[str], out: Path) -> list[dict[str, object]]:
    result = runner.invoke(app, ["build", *args, "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "timeline.json").read_text())
    incidents: list[dict[str, object]] = doc["incidents"]
    return incidents


@pytest.mark.parametrize("timed", [False, True], ids=["combined", "custom-format"])
@pytest.mark.parametrize("rule", ["ua:acme-synthetics", "10.9.0.0/16", "10.9.0.5"])
def test_excluded_monitor_makes_no_incident(tmp_path: Path, timed: bool, rule: str) -> None:
    log = tmp_path / "edge" / "access.log"
    _write_log(log, timed)
    fmt = (["--log-format", '$remote_addr - $remote_user [$time_local] "$request" $status '
            '$body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time']
           if timed else [])
    # Without the rule the failing monitor is the only thing failing: a (false) incident.
    seen = _incidents([str(log), *fmt], tmp_path / "all")
    assert len(seen) == 1
    # With it, its requests are not counted as users' requests anywhere: no incident.
    assert _incidents([str(log), *fmt, "--exclude-client", rule], tmp_path / "ex") == []


def test_exclusion_holds_across_byte_ranges_and_jobs(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from timeline import engine

    monkeypatch.setattr(engine, "SPLIT_BYTES", 64 << 10)
    monkeypatch.setattr(engine, "READ_BYTES", 5000)
    log = tmp_path / "edge" / "access.log"
    _write_log(log)
    for jobs in ("1", "2"):
        assert _incidents([str(log), "-j", jobs, "--exclude-client", "10.9.0.0/16"],
                          tmp_path / f"j{jobs}") == []
