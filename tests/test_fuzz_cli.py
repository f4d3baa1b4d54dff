"""Whatever the logs hold, ``build`` ends with a report or a one-line error, never a
traceback: random mixes of good, odd and broken lines, short and long spans, several
hosts, error logs and alert lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from timeline.cli import ExitCode, app

runner = CliRunner()
T0 = datetime(2023, 3, 20, 12, 0, tzinfo=UTC)

_ODD = [
    "",
    "garbage without structure",
    '10.0.0.1 - - [20/Mar/2023:12:00:00 +0000] "GET / HTTP/1.1" 200',
    '10.0.0.1 - - [99/Xyz/2023:25:61:61 +0000] "GET / HTTP/1.1" 200 1 "-" "x"',
    '"\\x16\\x03\\x01" 400 157 "-" "-"',
    "2023/03/20 12:00:05 [error] 7#7: *1 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 10.0.0.9, server: _, request: "GET / HTTP/1.1", '
    'upstream: "http://10.0.0.3:80/", host: "x"',
    "2023/03/20 12:00:06 [notice] 1#1: signal process started",
    "\x00\x01\x02 binary \xff\xfe",
]


@st.composite
def _access_line(draw: st.DrawFn, span_s: int) -> str:
    t = T0 + timedelta(seconds=draw(st.integers(0, span_s)))
    status = draw(st.sampled_from([200, 200, 200, 301, 404, 444, 499, 500, 502, 503, 504]))
    client = draw(st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::7", "198.51.100.4"]))
    path = draw(st.sampled_from(["/", "/api/x?id=1", "/a|b`c<script>", "/%0a", "/healthz"]))
    ua = draw(st.sampled_from(["Mozilla/5.0", "kube-probe/1.27", "-", "x\\x22y"]))
    return (f'{client} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} '
            f'12 "-" "{ua}"')


@st.composite
def _folder(draw: st.DrawFn) -> dict[str, list[str]]:
    span = draw(st.sampled_from([0, 30, 150, 900, 4 * 3600]))
    files: dict[str, list[str]] = {}
    for host in draw(st.lists(st.sampled_from(["lb-1", "web-1", "web-2"]), min_size=1,
                              max_size=3, unique=True)):
        lines = draw(st.lists(st.one_of(_access_line(span), st.sampled_from(_ODD)),
                              max_size=60))
        lines.sort()  # roughly in time order, like a real log (odd lines anywhere)
        files[f"{host}/access.log"] = lines
        if draw(st.booleans()):
            files[f"{host}/error.log"] = draw(st.lists(st.sampled_from(_ODD), max_size=8))
    return files


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(_folder(), st.sampled_from(["1", "2"]))
def test_build_never_tracebacks(tmp_path: Path, files: dict[str, list[str]], jobs: str) -> None:
    root = tmp_path / f"in-{abs(hash(json.dumps(files, sort_keys=True)))}"
    for name, lines in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes("".join(ln + "\n" for ln in lines).encode("utf-8", "surrogateescape"))
    out = root.with_suffix(".out")
    res = runner.invoke(app, ["build", str(root), "-o", str(out), "-q", "-j", jobs])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code in (ExitCode.OK, ExitCode.UNRECOGNISED), res.output
    if res.exit_code == ExitCode.OK:
        doc = json.loads((out / "timeline.json").read_text())
        for src in doc["sources"]:
            assert src["lines"] == src["parsed"] + src["rejected"] + src["skipped"]
        for inc in doc["incidents"]:
            imp = inc["impact"]
            assert inc["start"] <= inc["end"]
            assert 0 <= imp["requests_failed"] <= imp["requests_total"]
            assert 0 <= imp["users_affected"] <= imp["users_total"]
