"""Whatever the inputs hold, ``build`` ends with a report or a one-line error, never a
traceback (exit 1, "internal error").

First, random mixes of good, odd and broken lines, short and long spans, several hosts,
error logs and alert lines. Then (issue 14) mutated real samples: access lines, error lines,
every alert export and both change formats, given wrong types, huge and non-finite numbers,
deep nesting, odd encodings, impossible dates, long lines and truncation. Every input is
read, or ends in one of the errors the command line turns into a one-line message with its
exit code (3, 4, 5).

CI runs ``CI_EXAMPLES`` mutated inputs per sample (over 3,000 in all, each read in-process
as ``inspect`` reads it, both passes) and a few dozen whole builds; ``pytest -m fuzz`` runs
a longer, randomised search (minutes)."""

from __future__ import annotations

import copy
import json
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import parsers
import timeline
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


# --- mutated real samples (issue 14) -----------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SEED = ROOT / "sample_logs" / "seed-outage"

#: Small real samples of every input kind (the first lines or records of each).
LINE_SAMPLES = {
    "access": SEED / "lb-1" / "access.log",
    "access-combined": DATA / "nginx_access" / "combined.log",
    "error": DATA / "nginx_error" / "error.log",
    "error-syslog": DATA / "nginx_error" / "syslog.log",
    "changes-csv": DATA / "changes" / "changes.csv",
    "pagerduty-csv": DATA / "pagerduty" / "incidents.csv",
}
JSON_SAMPLES = {
    "alertmanager-v4": DATA / "alertmanager" / "webhook_v4.jsonl",
    "alertmanager-api": DATA / "alertmanager" / "api_v2_alerts.json",
    "grafana-history": DATA / "grafana" / "state_history.json",
    "grafana-webhook": DATA / "grafana" / "webhook.jsonl",
    "pagerduty-incident": DATA / "pagerduty" / "incident.json",
    "pagerduty-log": DATA / "pagerduty" / "log_entries.json",
    "opsgenie-alert": DATA / "opsgenie" / "alert_get.json",
    "opsgenie-webhook": DATA / "opsgenie" / "webhook.jsonl",
    "cloudwatch": DATA / "cloudwatch" / "alarm_history.json",
    "datadog": DATA / "datadog" / "webhook_default.json",
    "datadog-custom": DATA / "datadog" / "webhook_custom.jsonl",
    "changes-json": DATA / "changes" / "changes.json",
}
#: Inputs per sample in CI: 18 samples x 170 = 3,060.
CI_EXAMPLES = 170
#: The line cap the fuzzed reads use, so that long lines are cheap to make.
CAP = 4096
#: What reading may end with: each is a one-line message and an exit code (cli._read).
USER_ERRORS = (timeline.InputError, timeline.NothingRecognisedError, timeline.UsageError,
               parsers.ParseError)



def _lines(path: Path, n: int = 24) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)[:n]


def _records(path: Path) -> tuple[Any, bool]:
    """A sample's JSON (a document, or the list of a JSON-lines file's records, cut to a
    few), and whether it was JSON lines."""
    text = path.read_text()
    if path.suffix != ".jsonl":
        return json.loads(text), False
    records = []
    for ln in text.splitlines():
        try:
            records.append(json.loads(ln))
        except ValueError:
            continue  # a sample's torn line
    return records[:6], True


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


#: Values of the wrong type, huge or non-finite, odd strings and times that do not exist.
WEIRD = st.one_of(
    st.sampled_from([
        None, True, False, 0, -1, 5, 1.5, 1e30, -1e30, 1e308, 10**40, -(10**40),
        math.inf, -math.inf, math.nan, "", " ", "x", "1e30", "NaN", "Infinity", "-1",
        "2023-02-29T12:00:00Z", "2023-04-31T12:00:00Z", "2023-03-20T12:00:00+99:99",
        "0000-00-00T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
        "2023-03-20T25:61:61Z", "20/Mar/2023:12:00:00 +0000", "\x00", "\ud800", "\r\n",
        "<script>alert(1)</script>", "[x](http://e.example)", [], [1, "a", None], {},
        {"a": {"b": []}}, _deep(60), [_deep(30)]]),
    st.integers(), st.floats(), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2),
)


def _paths(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON value, depth first."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        cur = stack.pop()
        items = cur.items() if isinstance(cur, dict) else enumerate(cur) \
            if isinstance(cur, list) else ()
        for k, v in items:
            out.append((cur, k))
            stack.append(v)
    return out


@st.composite
def mutated_json(draw: st.DrawFn, name: str) -> bytes:
    """A JSON sample with a few of its values replaced or removed, then serialised as it
    came (or as the other layout), maybe cut short, re-encoded or nested deep."""
    doc, jsonl = _records(JSON_SAMPLES[name])
    for _ in range(draw(st.integers(1, 4))):
        places = _paths(doc)
        if not places:
            break
        cur, key = places[draw(st.integers(0, len(places) - 1))]
        if isinstance(cur, dict) and draw(st.integers(0, 4)) == 0:
            del cur[key]
        else:  # a copy: the pool's lists and objects are shared between examples
            cur[key] = copy.deepcopy(draw(WEIRD))
    if jsonl and isinstance(doc, list):
        text = "".join(json.dumps(r) + "\n" for r in doc)
    else:
        text = json.dumps(doc, indent=draw(st.sampled_from([None, 2])))
    return _garble(draw, text.encode("utf-8", "surrogatepass"))


@st.composite
def mutated_lines(draw: st.DrawFn, name: str) -> bytes:
    """A line sample with fields swapped for odd ones, lines cut, repeated, prefixed with
    NULs or made longer than the cap, then maybe cut short or re-encoded."""
    lines = _lines(LINE_SAMPLES[name])
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        how = draw(st.integers(0, 6))
        if how == 0:  # a field replaced
            cut = line.split(b" ") if b" " in line else line.split(b",")
            j = draw(st.integers(0, len(cut) - 1))
            cut[j] = draw(st.sampled_from([
                b"[29/Feb/2023:12:00:00", b"[31/Apr/2023:12:00:00", b"+9999]", b"-1",
                b"99999999999999999999999", b"nan", b"inf", b"1e400", b"\"", b"\\", b"\r",
                b"\xff\xfe", b"\x00", b"", b"2023/02/29", b"25:61:61", b"\"\"\"", b"x" * 300,
            ]))
            lines[i] = (b" " if b" " in line else b",").join(cut)
        elif how == 1:  # cut short
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif how == 2:  # repeated
            lines.insert(i, line)
        elif how == 3:  # a hole before it
            lines[i] = b"\0" * draw(st.integers(1, 64)) + line
        elif how == 4:  # longer than the cap
            lines[i] = line.rstrip(b"\n") + b"a" * draw(st.integers(CAP - 100, 3 * CAP)) + b"\n"
        elif how == 5:  # random bytes
            lines[i] = draw(st.binary(max_size=80)) + b"\n"
        else:
            del lines[i]
        if not lines:
            lines = [b"\n"]
    return _garble(draw, b"".join(lines))


def _garble(draw: st.DrawFn, data: bytes) -> bytes:
    """Maybe: cut short, re-encoded (UTF-16, Latin-1, a BOM), or wrapped in deep arrays."""
    how = draw(st.integers(0, 9))
    if how == 0:
        return data[: draw(st.integers(0, len(data)))]
    if how == 1:
        return data.decode("utf-8", "replace").encode("utf-16")
    if how == 2:
        return b"\xef\xbb\xbf" + data
    if how == 3:
        return data.decode("utf-8", "replace").encode("latin-1", "replace")
    if how == 4:
        depth = draw(st.sampled_from([100, 1000, 100_000]))
        return b"[" * depth + data + b"]" * depth
    return data


def _read_side(path: Path) -> None:
    """Read ``path`` as ``inspect`` does (both passes): a dataset whose counts add up, or
    an error the command line reports in one line that names the file."""
    try:
        data = timeline.read([str(path)], timeline.ReadOptions(jobs=1, max_line_bytes=CAP))
        data.load_rows(0.0, 7e9)
    except USER_ERRORS as exc:
        msg = str(exc)
        assert "\n" not in msg.strip() and path.name in msg, msg
        return
    for src in data.sources:
        assert src.lines == src.parsed + src.rejected + src.skipped, src


def _fuzz_one(tmp_path: Path, name: str, data: bytes) -> None:
    suffix = ".csv" if name.endswith("csv") else ".json" if name in JSON_SAMPLES else ".log"
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(data)
    _read_side(path)


_CI = settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow, HealthCheck.data_too_large])
_LONG = settings(max_examples=30 * CI_EXAMPLES, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", sorted(JSON_SAMPLES))
@_CI
@given(data=st.data())
def test_mutated_exports_are_read_or_named(tmp_path: Path, name: str,
                                           data: st.DataObject) -> None:
    _fuzz_one(tmp_path, name, data.draw(mutated_json(name)))


@pytest.mark.parametrize("name", sorted(LINE_SAMPLES))
@_CI
@given(data=st.data())
def test_mutated_lines_are_read_or_named(tmp_path: Path, name: str,
                                         data: st.DataObject) -> None:
    _fuzz_one(tmp_path, name, data.draw(mutated_lines(name)))


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(JSON_SAMPLES))
@_LONG
@given(data=st.data())
def test_mutated_exports_long(tmp_path: Path, name: str, data: st.DataObject) -> None:
    _fuzz_one(tmp_path, name, data.draw(mutated_json(name)))


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(LINE_SAMPLES))
@_LONG
@given(data=st.data())
def test_mutated_lines_long(tmp_path: Path, name: str, data: st.DataObject) -> None:
    _fuzz_one(tmp_path, name, data.draw(mutated_lines(name)))


@st.composite
def _any_input(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(JSON_SAMPLES) + sorted(LINE_SAMPLES)))
    return name, draw(mutated_json(name) if name in JSON_SAMPLES else mutated_lines(name))


def _build_beside_seed(tmp_path: Path, name: str, data: bytes) -> None:
    """A whole build of a seed host's access log with the mutated file beside it: a report,
    or a one-line error with its exit code; never exit 1."""
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    (root / "lb-1").mkdir()
    (root / "lb-1" / "access.log").write_bytes(b"".join(_lines(SEED / "lb-1" / "access.log",
                                                               400)))
    (root / "x").mkdir()
    (root / "x" / f"{name}.txt").write_bytes(data)
    res = runner.invoke(app, ["build", str(root), "-o", str(root) + ".out", "-q", "-j", "1",
                              "--format", "json", "--max-line-bytes", str(CAP)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code in (ExitCode.OK, ExitCode.INPUT, ExitCode.UNRECOGNISED,
                             ExitCode.BAD_DATA), res.output
    if res.exit_code != ExitCode.OK:
        assert len(res.output.strip().splitlines()) == 1, res.output


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(_any_input())
def test_build_with_a_mutated_input_beside_a_log(tmp_path: Path,
                                                 case: tuple[str, bytes]) -> None:
    _build_beside_seed(tmp_path, *case)


@pytest.mark.fuzz
@settings(max_examples=1500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(_any_input())
def test_build_with_a_mutated_input_long(tmp_path: Path, case: tuple[str, bytes]) -> None:
    _build_beside_seed(tmp_path, *case)
