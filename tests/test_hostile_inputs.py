"""Issue 14, the input side: odd, broken and hostile files are read, rejected with a reason
or listed as skipped with one; never a crash, never silently lost or counted twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import parsers
from parsers import alertmanager, changes, datadog, grafana, opsgenie, pagerduty
from parsers.base import ParseError, ParseOptions, ParseStats
from timeline.cli import ExitCode, app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
DATA = Path(__file__).parent / "data"

runner = CliRunner()


def _seed_copy(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    shutil.copytree(SEED, d)
    return d


def _build(*args: str) -> Any:
    return runner.invoke(app, ["build", *args, "-q"])


def _sources(out: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((out / "timeline.json").read_text())
    return {Path(s["path"]).name if "/" in s["path"] else s["path"]: s for s in doc["sources"]}


def _parse(module: Any, data: bytes, **opts: Any) -> tuple[list[dict[str, Any]], ParseStats]:
    stats = ParseStats()
    events = [e for chunk in module.parse([data], stats, ParseOptions(display_path="f", **opts))
              for e in chunk]
    stats.check()
    return events, stats


# --- group 3: a file no parser recognises is skipped, never fatal ---------------------------


@pytest.mark.parametrize("content", [
    b"a\rb,c\n",                                   # the 6-byte notes.txt
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\r\n\x00\xff",  # gzip data without .gz
    b"\x7fELF\x02\x01\x01\x00\r\x00\x00core",     # a core dump's first bytes
    b"time,kind\rdescription\n1,deploy,x\n",
])
def test_unrecognised_file_with_carriage_return_is_skipped(tmp_path: Path,
                                                           content: bytes) -> None:
    d = _seed_copy(tmp_path)
    (d / "web-1" / "notes.txt").write_bytes(content)
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output
    notes = _sources(tmp_path / "o")["notes.txt"]
    assert notes["format"] == "unknown"
    assert any("not a recognised format" in n or "does not inflate" in n
               for n in notes["notes"])


def test_change_sniffer_survives_carriage_return_in_the_first_line() -> None:
    assert changes.sniff(b"a\rb,c\n") is False
    assert parsers.sniff(b"a\rb,c\n") is None


# --- group 8: CSV fields over 128 KiB, type-fuzzed alert and change files -------------------


def test_csv_field_over_128_kib_is_read(tmp_path: Path) -> None:
    big = "x" * (200 << 10)
    data = (f"time,kind,description\n2023-03-20T12:00:00Z,deploy,{big}\n"
            "2023-03-20T12:01:00Z,deploy,small\n").encode()
    events, stats = _parse(changes, data)
    assert stats.parsed == 2 and len(events) == 2


def test_csv_field_over_the_line_cap_is_rejected_with_the_option() -> None:
    data = (b"time,kind,description\n2023-03-20T12:00:00Z,deploy," + b"x" * 5000
            + b"\n2023-03-20T12:01:00Z,deploy,small\n")
    events, stats = _parse(changes, data, max_line_bytes=4096)
    assert stats.parsed == 1 and stats.rejected == 1
    assert "--max-line-bytes" in stats.rejects[0].reason


def test_pagerduty_csv_field_over_128_kib() -> None:
    data = (b"id,title,created_on,status\nP1," + b"t" * (200 << 10)
            + b",2023-03-20T12:00:00Z,resolved\n")
    events, stats = _parse(pagerduty, data)
    assert stats.parsed == 1


def _first(path: Path) -> Any:
    text = path.read_text()
    try:
        return json.loads(text)
    except ValueError:
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


def _mutated(name: str, path: tuple[Any, ...], value: Any) -> bytes:
    """A sample export of ``tests/data`` with the field at ``path`` set to ``value``."""
    doc = json.loads((DATA / name).read_text())
    cur = doc
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("module", "name", "path", "value"), [
    # The cases: PagerDuty "acknowledgements": 5, Opsgenie "tags": 1.5 or
    # Infinity, Grafana "alertId": {}, "time": 1e30 in changes, Datadog "date": 1e30.
    (pagerduty, "pagerduty/incident.json", ("incident", "acknowledgements"), 5),
    (opsgenie, "opsgenie/alert_get.json", ("data", "tags"), 1.5),
    (opsgenie, "opsgenie/alert_get.json", ("data", "tags"), float("inf")),
    (opsgenie, "opsgenie/alert_get.json", ("data", "report", "ackTime"), float("inf")),
    (grafana, "grafana/state_history.json", (0, "alertId"), {}),
    (grafana, "grafana/state_history.json", (0, "alertId"), [1]),
    (datadog, "datadog/webhook_default.json", (0, "date"), 1e30),
    (changes, "changes/changes.json", (0, "time"), 1e30),
    (changes, "changes/changes.json", (0, "time"), float("nan")),
])
def test_type_fuzzed_exports_are_rejected_not_crashed(module: Any, name: str,
                                                      path: tuple[Any, ...], value: Any) -> None:
    data = _mutated(name, path, value)
    assert parsers.sniff(data[:parsers.SNIFF_BYTES]) is module
    try:
        _parse(module, data)
    except ParseError:
        pass  # a one-line error naming the file is fine; a TypeError is not


def test_time_out_of_range_is_rejected_with_a_reason() -> None:
    doc = [{"date": 1e30, "last_updated": "1e30", "event_type": "query_alert_monitor",
            "title": "[Triggered] x", "body": "b", "id": "1"}]
    events, stats = _parse(datadog, json.dumps(doc).encode())
    assert events == [] and stats.rejected == 1
    assert "out of range" in stats.rejects[0].reason


@pytest.mark.parametrize("value", ["1e30", "Infinity", "-Infinity", "NaN"])
def test_build_with_an_absurd_alert_time_gives_a_report(tmp_path: Path, value: str) -> None:
    d = _seed_copy(tmp_path)
    text = (DATA / "datadog" / "webhook_default.json").read_text()
    (d / "alertmanager" / "dd.json").write_text(
        text.replace('"date": "1715681100000"', f'"date": {value}', 1))
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output


# --- group 11 (parse level): deep JSON, alerts ending before they start --------------------


def test_100k_deep_json_is_named_as_such(tmp_path: Path) -> None:
    p = tmp_path / "alerts.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    res = _build(str(p), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.UNRECOGNISED
    assert "nested" in res.output and "not a recognised format" not in res.output


def test_100k_deep_alert_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "alerts.json"
    p.write_text('{"receiver":"r","version":"4","alerts":[{"startsAt":"2024-01-01T00:00:00Z",'
                 '"labels":{"a":"b"}}],"x":' + "[" * 100_000 + "]" * 100_000 + "}")
    res = _build(str(p), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.BAD_DATA, res.output
    assert "nested 100001 levels deep" in res.output
    assert "internal error" not in res.output


def test_alert_ending_before_it_started_is_flagged_not_resolved() -> None:
    doc = {"receiver": "r", "version": "4", "status": "resolved", "alerts": [{
        "status": "resolved", "labels": {"alertname": "A"},
        "startsAt": "2023-03-20T12:00:00Z", "endsAt": "2020-01-01T00:00:00Z"}]}
    events, stats = _parse(alertmanager, json.dumps(doc).encode())
    (ev,) = events
    assert ev["end"] is None
    assert ev["attrs"]["end_before_start"] == "2020-01-01T00:00:00Z"
    assert any("before" in n and "started" in n for n in stats.notes)
    assert stats.first_ts == stats.last_ts == ev["ts"]


# --- group 10: a copied nginx.conf reads nothing of the analysing machine -------------------


def _conf_copy(tmp_path: Path, body: str) -> Path:
    copy = tmp_path / "etc-nginx"
    (copy / "conf.d").mkdir(parents=True)
    (copy / "conf.d" / "a.conf").write_text("log_format a '$remote_addr $status';\n")
    (copy / "nginx.conf").write_text(
        "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n" + body + "}\n")
    return copy / "nginx.conf"


def test_absolute_include_missing_from_the_copy_is_listed_not_read_locally(
        tmp_path: Path) -> None:
    from timeline.nginxconf import read_nginx_conf

    conf = read_nginx_conf(_conf_copy(
        tmp_path, "    include /etc/nginx/sites-enabled/*;\n    include /etc/shadow;\n"
        "    include /dev/zero;\n    include /usr/share/nginx/*.conf;\n"))
    assert conf.root == "/etc/nginx"
    assert all(not f.startswith("/etc/") and not f.startswith("/dev/") for f in conf.files)
    assert all(s.file.startswith(("nginx.conf", "conf.d")) for s in conf.servers)
    errors = "\n".join(conf.errors + conf.notes)
    assert "include /etc/nginx/sites-enabled/* matches no file" in errors
    for outside in ("/etc/shadow", "/dev/zero", "/usr/share/nginx/*.conf"):
        assert f"include {outside}: not in the copy" in errors


def test_symlink_in_the_copy_pointing_outside_is_not_followed(tmp_path: Path) -> None:
    from timeline.nginxconf import read_nginx_conf

    main = _conf_copy(tmp_path, "    include sites-enabled/*;\n")
    (main.parent / "sites-enabled").mkdir()
    outside = tmp_path / "outside.conf"
    outside.write_text("server { listen 81; server_name stolen; }\n")
    (main.parent / "sites-enabled" / "evil").symlink_to(outside)
    (main.parent / "sites-enabled" / "fifo").symlink_to("/dev/null")
    conf = read_nginx_conf(main)
    assert not any("stolen" in s.server_names for s in conf.servers)
    assert any("points outside the copied tree" in e for e in conf.errors)


def test_fifo_in_the_copy_is_not_opened(tmp_path: Path) -> None:
    import os

    from timeline.nginxconf import read_nginx_conf

    main = _conf_copy(tmp_path, "    include conf.d/*.pipe;\n")
    os.mkfifo(main.parent / "conf.d" / "x.pipe")
    conf = read_nginx_conf(main)  # would block for ever if it opened the FIFO
    assert any("a FIFO, not a config file" in e for e in conf.errors)


# --- group 5: nothing lost, nothing counted twice ------------------------------------------


def _impact(out: Path) -> tuple[int, int]:
    inc = json.loads((out / "timeline.json").read_text())["incidents"][0]["impact"]
    return inc["requests_failed"], inc["requests_total"]


def test_same_folder_given_twice_is_read_once(tmp_path: Path) -> None:
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert _build(str(SEED), "-o", str(once)).exit_code == ExitCode.OK
    res = _build(str(SEED), str(SEED), "-o", str(twice))
    assert res.exit_code == ExitCode.OK, res.output
    assert _impact(twice) == _impact(once)
    doc = json.loads((twice / "timeline.json").read_text())
    dups = [s for s in doc["sources"] if any("given twice" in n for n in s["notes"])]
    assert len(dups) == len(doc["sources"]) // 2


def test_log_copied_into_a_second_folder_is_read_once(tmp_path: Path) -> None:
    d = _seed_copy(tmp_path)
    (d / "web-9").mkdir()
    shutil.copy(d / "lb-1" / "access.log", d / "web-9" / "access.log")
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output
    assert _impact(tmp_path / "o") == _impact_of_seed(tmp_path)
    copy = _sources(tmp_path / "o")
    notes = [n for s in json.loads((tmp_path / "o" / "timeline.json").read_text())["sources"]
             if s["path"].endswith("web-9/access.log") for n in s["notes"]]
    assert any("same content as" in n and "lb-1/access.log" in n for n in notes), copy


def _impact_of_seed(tmp_path: Path) -> tuple[int, int]:
    out = tmp_path / "seed-only"
    assert _build(str(SEED), "-o", str(out)).exit_code == ExitCode.OK
    return _impact(out)


def test_unreadable_host_folder_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    import os

    from timeline.sources import discover

    d = tmp_path / "d"
    (d / "web-3").mkdir(parents=True)
    (d / "web-1").mkdir()
    (d / "web-1" / "access.log").write_text("x\n")
    real = os.scandir

    def scandir(path: Any) -> Any:  # root reads any folder: fake a mode 000 folder
        if str(path).endswith("web-3"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = {s.display: s.skip_reason for s in discover([str(d)])}
    assert "folder not read: Permission denied" in found[str(d / "web-3")]


def test_dotfiles_are_listed_as_skipped(tmp_path: Path) -> None:
    from timeline.sources import discover

    d = tmp_path / "d"
    (d / ".git").mkdir(parents=True)
    (d / ".git" / "x.log").write_text("x\n")
    (d / ".access.log.swp").write_text("x\n")
    (d / ".hidden.log").write_text("x\n")
    found = {Path(s.display).name: s.skip_reason for s in discover([str(d)])}
    assert "hidden folder" in found[".git"]
    assert "hidden file" in found[".hidden.log"] and "hidden file" in found[".access.log.swp"]
    # Named as a path, a dotfile is read.
    (src,) = discover([str(d / ".hidden.log")])
    assert "hidden" not in src.skip_reason


def test_log_truncated_between_the_passes_is_said(tmp_path: Path) -> None:
    import timeline

    d = _seed_copy(tmp_path)
    data = timeline.read([str(d)])
    with open(d / "lb-1" / "access.log", "r+b") as fh:  # logrotate's copytruncate
        fh.truncate(0)
    with pytest.raises(timeline.InputError, match="truncated while it was being read"):
        data.load_rows(0, 2e9)


def test_pipe_named_as_a_path_is_read_by_both_passes(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    body = (SEED / "lb-1" / "access.log").read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(body)

    t = threading.Thread(target=feed)
    t.start()
    res = _build(str(fifo), "-o", str(tmp_path / "o"))
    if t.is_alive():  # the build never opened the FIFO: unblock the writer, then fail
        with open(fifo, "rb"):
            pass
    t.join()
    assert res.exit_code == ExitCode.OK, res.output
    failed, total = _impact(tmp_path / "o")
    assert total > 0 and failed > 0


def test_stdin_is_read_by_both_passes(tmp_path: Path) -> None:
    body = (SEED / "lb-1" / "access.log").read_bytes()
    res = runner.invoke(app, ["build", "-", "-o", str(tmp_path / "o"), "-q"], input=body)
    assert res.exit_code == ExitCode.OK, res.output
    failed, total = _impact(tmp_path / "o")
    assert total > 0 and failed > 0


# --- group 7: line cap, bounded sniffing, special files ------------------------------------


_LINE = (b'10.0.0.1 - - [20/Mar/2023:12:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "x" "-"\n')


def test_long_line_is_rejected_with_its_length(tmp_path: Path) -> None:
    import timeline

    p = tmp_path / "web-1" / "access.log"
    p.parent.mkdir()
    long = b'10.0.0.2 - - [20/Mar/2023:12:00:01 +0000] "GET /' + b"a" * 5000 + b' HTTP/1.1" 200 1\n'
    p.write_bytes(_LINE * 3 + long + _LINE * 2)
    data = timeline.read([str(p)], timeline.ReadOptions(max_line_bytes=4096))
    (rep,) = data.sources
    assert (rep.lines, rep.parsed, rep.rejected, rep.skipped) == (6, 5, 1, 0)
    (rej,) = rep.rejects
    assert rej.line == 4 and f"line of {len(long) - 1} bytes" in rej.reason
    assert "--max-line-bytes" in rej.reason
    rows = data.load_rows(0, 2e9)
    assert sorted(rows["line"].tolist()) == [1, 2, 3, 5, 6]


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_long_line_cap_applies_to_every_reader(tmp_path: Path, suffix: str) -> None:
    import gzip

    import timeline

    long = b"x" * 3000 + b"\n"
    body = (_LINE * 2 + long) * 200 + _LINE
    p = tmp_path / f"access.log{suffix}"
    p.write_bytes(gzip.compress(body) if suffix else body)
    for jobs in (1, 2):
        data = timeline.read([str(p)], timeline.ReadOptions(max_line_bytes=1024, jobs=jobs))
        (rep,) = data.sources
        assert (rep.lines, rep.parsed, rep.rejected) == (601, 401, 200)
        assert rep.rejects[0].line == 3 and "3000 bytes" in rep.rejects[0].reason


def test_max_line_bytes_must_be_positive(tmp_path: Path) -> None:
    res = _build(str(SEED), "-o", str(tmp_path / "o"), "--max-line-bytes", "0")
    assert res.exit_code == ExitCode.USAGE and "--max-line-bytes" in res.output


def test_stdin_from_dev_zero_is_sniffed_from_a_bounded_head(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from timeline.sources import discover

    class Zero:
        """An endless stream of NULs, as ``build - < /dev/zero`` gives; counts the reads."""

        read_bytes = 0

        def read(self, n: int = -1) -> bytes:
            assert n > 0, "stdin read whole"
            Zero.read_bytes += n
            return b"\0" * n

    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": Zero()})())
    (src,) = discover(["-"])
    assert src.parser is None and "not a recognised format" in src.skip_reason
    assert Zero.read_bytes <= 1 << 16


def test_build_from_dev_zero_on_stdin_ends_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    with open("/dev/zero", "rb") as zero:
        res = subprocess.run(
            [sys.executable, "-c", "from timeline.cli import main; main()", "build", "-",
             "-o", str(tmp_path / "o")], stdin=zero, capture_output=True, text=True,
            timeout=120, check=False)
    assert res.returncode == ExitCode.UNRECOGNISED, res.stderr
    assert "not a recognised format" in res.stderr and "Traceback" not in res.stderr


def test_special_files_inside_folders_are_skipped(tmp_path: Path) -> None:
    import os
    import socket

    from timeline.sources import discover

    d = tmp_path / "d" / "web-1"
    d.mkdir(parents=True)
    (d / "access.log").write_bytes(_LINE)
    os.mkfifo(d / "pipe.log")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "sock"))
    (d / "zero").symlink_to("/dev/zero")
    try:
        found = {Path(s.display).name: s for s in discover([str(tmp_path / "d")])}
    finally:
        sock.close()
    assert "a FIFO: read only when named as a path" in found["pipe.log"].skip_reason
    assert "a socket" in found["sock"].skip_reason
    assert "a character device" in found["zero"].skip_reason
    assert found["access.log"].parser is not None


def test_dev_zero_named_explicitly_is_not_read_whole(tmp_path: Path) -> None:
    res = _build("/dev/zero", "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.UNRECOGNISED
    assert "not a recognised format" in res.output


# --- group 8: odd names and links inside folders --------------------------------------------


def test_newline_in_a_file_name(tmp_path: Path) -> None:
    d = _seed_copy(tmp_path)
    shutil.copy(d / "web-1" / "error.log", d / "web-1" / "error\nlog.1")
    (d / "web-1" / "x\n.log").write_text("hello\n")
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output


def test_symlink_loop_inside_a_folder(tmp_path: Path) -> None:
    d = _seed_copy(tmp_path)
    (d / "web-1" / "loop").symlink_to(d / "web-1" / "loop")
    (d / "web-1" / "a").symlink_to(d / "web-1" / "b")
    (d / "web-1" / "b").symlink_to(d / "web-1" / "a")
    (d / "web-1" / "gone").symlink_to(d / "nowhere")
    (d / "web-2" / "up").symlink_to(d)
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output
    notes = {Path(s["path"]).name: s["notes"] for s in
             json.loads((tmp_path / "o" / "timeline.json").read_text())["sources"]}
    assert any("symlink loop" in n for n in notes["loop"])
    assert any("broken symlink" in n for n in notes["gone"])
    assert any("not followed" in n for n in notes["up"])


# --- group 11 (parse level): dates that do not exist, NUL-prefixed lines -------------------


def _access(tmp_path: Path, *times: str) -> Path:
    p = tmp_path / "web-1" / "access.log"
    p.parent.mkdir(exist_ok=True)
    p.write_text("".join(f'10.0.0.{i} - - [{t}] "GET / HTTP/1.1" 200 1 "-" "x" "-"\n'
                         for i, t in enumerate(times)))
    return p


@pytest.mark.parametrize("jobs", [1, 2])
def test_impossible_dates_and_offsets_are_rejected(tmp_path: Path, jobs: int) -> None:
    import timeline

    good = "20/Mar/2023:12:00:00 +0000"
    bad = ["29/Feb/2023:12:00:00 +0000", "31/Apr/2023:12:00:00 +0000",
           "20/Mar/2023:12:00:00 +9999", "20/Mar/2023:12:00:00 -1500",
           "20/Mar/2023:12:00:00 +0060"]
    p = _access(tmp_path, good, *bad, "29/Feb/2024:12:00:00 +1400", good)
    (rep,) = timeline.read([str(p)], timeline.ReadOptions(jobs=jobs)).sources
    assert (rep.parsed, rep.rejected) == (3, len(bad))
    assert sorted(r.line for r in rep.rejects) == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("text", [
    "2023-02-29T12:00:00+00:00", "2023-04-31T12:00:00+00:00", "2023-03-20T12:00:00+99:99"])
def test_impossible_iso8601_times_are_rejected(text: str) -> None:
    from parsers.export import parse_rfc3339
    from parsers.log_format import parse_time_iso8601

    with pytest.raises(ValueError):
        parse_time_iso8601(text.encode())
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_nul_prefixed_lines_are_not_extra_users(tmp_path: Path) -> None:
    d = _seed_copy(tmp_path)
    log = d / "lb-1" / "access.log"
    lines = log.read_bytes().splitlines(keepends=True)
    # A hole (copytruncate, a crash) before every tenth line: NULs, then the line.
    log.write_bytes(b"".join(b"\0" * (i % 7 + 1) + ln if i % 10 == 0 else ln
                             for i, ln in enumerate(lines)))
    res = _build(str(d), "-o", str(tmp_path / "o"))
    assert res.exit_code == ExitCode.OK, res.output
    doc = json.loads((tmp_path / "o" / "timeline.json").read_text())
    impact = doc["incidents"][0]["impact"]
    assert (impact["users_affected"], impact["users_total"]) == (60, 400)
    assert (impact["requests_failed"], impact["requests_total"]) == (830, 5247)
    lb = next(s for s in doc["sources"] if s["path"].endswith("lb-1/access.log"))
    assert lb["rejected"] == 0
    assert any("began with NUL bytes" in n for n in lb["notes"])


def test_lone_surrogate_escape_in_an_export_is_replaced_not_crashed() -> None:
    # Found by the long fuzz run: "\\ud800" is valid JSON but no UTF-8 text.
    doc = json.loads((DATA / "alertmanager" / "api_v2_alerts.json").read_text())
    doc.insert(0, "\ud800")
    doc[1]["labels"]["alertname"] = "A\udc00B"
    data = json.dumps(doc).encode()
    assert b"\\ud800" in data
    events, stats = _parse(alertmanager, data)
    assert events and all(str(e["sample"]).encode() for e in events)
    assert any(e["attrs"].get("alertname") == "A\ufffdB" for e in events)


def test_file_and_host_names_that_are_not_utf8_are_shown_not_fatal(tmp_path: Path) -> None:
    """A file name's bytes need not be UTF-8 (a log copied from a Latin-1 system); Python
    keeps them as lone surrogates, which no output encoding can write: the build stopped
    with "internal error: UnicodeEncodeError". They are shown as their bytes (``\\xff``) in
    the Markdown, HTML and terminal, and as ``\\udcff`` escapes in the JSON."""
    import json
    import os

    d = tmp_path / "d"
    shutil.copytree(SEED, d)
    os.rename(bytes(d / "web-1" / "access.log"), bytes(d / "web-1") + b"/acc\xff\x1b[31mess.log")
    os.rename(bytes(d / "web-2"), bytes(d) + b"/web\xfe2")
    out = tmp_path / "o"
    result = runner.invoke(app, ["build", str(d), "-o", str(out), "-q",
                                 "--format", "md,json,jsonl,html,svg,png"])
    assert result.exit_code == 0, result.output
    md = (out / "postmortem.md").read_text(encoding="utf-8")
    assert "12:30:00" in md and "\x1b" not in md
    doc = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
    paths = [s["path"] for s in doc["sources"]]
    assert any(p.endswith("acc\udcff\x1bess.log".replace("\x1b", "\x1b[31m")) for p in paths)
    assert doc["incidents"][0]["impact"]["users_affected"] == 60
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "web\\xfe2" in html or "web\\xfe2" in md


@pytest.mark.parametrize("inside", ["report", "."])
def test_a_report_written_inside_the_input_is_not_read_back(tmp_path: Path,
                                                            inside: str) -> None:
    """``build outage -o outage/report`` (or ``-o outage``) run twice: the second build read
    the first one's outputs as unrecognised inputs. The files a report's manifest lists are
    skipped with that reason, the logs beside them are read, and the figures do not move."""
    d = tmp_path / "d"
    shutil.copytree(SEED, d)
    out = d / inside
    docs = []
    for _ in range(2):
        result = runner.invoke(app, ["build", str(d), "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        docs.append(json.loads((out / "timeline.json").read_text()))
    outputs = {"postmortem.md", "timeline.json", "timeline.png", "report.html"}
    mine = [s for s in docs[1]["sources"] if s["path"].rsplit("/", 1)[-1] in outputs]
    assert len(mine) == 4
    assert all("written by incident-timeline" in s["notes"][0] for s in mine)
    assert docs[0]["incidents"] == docs[1]["incidents"]
    assert sum(s["parsed"] for s in docs[0]["sources"]) == sum(
        s["parsed"] for s in docs[1]["sources"]) == 17955


@pytest.mark.parametrize("shape", ["one-line", "pretty", "jsonl", "csv"])
def test_an_export_inflating_past_the_cap_stops_with_its_name(tmp_path: Path,
                                                               shape: str) -> None:
    """A JSON or CSV export is parsed whole; a 300 KB .gz holding a 300 MB alert took 1.9 GB
    and a larger one would take all the memory there is. Over --max-export-bytes (256 MiB by
    default; 1 MB here) the read stops at the cap, naming the file and the option; under
    it, the same file is read."""
    import gzip

    summary = "a" * 2_000_000
    alert = {"status": "firing", "labels": {"alertname": "Big"}, "startsAt":
             "2023-03-20T12:40:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "annotations": {"summary": summary}}
    doc = {"receiver": "r", "status": "firing", "alerts": [alert]}
    body = {"one-line": json.dumps(doc), "pretty": json.dumps(doc, indent=2),
            "jsonl": "\n".join(json.dumps(doc) for _ in range(2)),
            "csv": "time,kind,description\n" + "".join(
                f"2023-03-20T12:{i % 60:02d}:00Z,deploy,{'x' * 900}\n" for i in range(2500)),
            }[shape]
    d = _seed_copy(tmp_path)
    name = "changes.csv.gz" if shape == "csv" else "big.json.gz"
    (d / "alertmanager" / name).write_bytes(gzip.compress(body.encode(), mtime=0))
    res = _build(str(d), "-o", str(tmp_path / "o"), "--max-export-bytes", "1000000")
    assert res.exit_code == ExitCode.BAD_DATA, res.output
    assert f"{name}: longer than 1,000,000 bytes (--max-export-bytes)" in res.output
    assert res.output.strip().count("\n") == 0 and "Traceback" not in res.output
    res = _build(str(d), "-o", str(tmp_path / "o"), "--max-export-bytes", "10000000")
    assert res.exit_code == ExitCode.OK, res.output
