#!/usr/bin/env python3
"""Re-wrap a bundle's Nginx logs the way containers, journald and log stores keep them.

    python sample_logs/rewrap.py docker-json /tmp/seed-docker            # one format
    python sample_logs/rewrap.py all /tmp/seed-wrapped                   # every format
    python sample_logs/rewrap.py cri /tmp/x --bundle sample_logs/quiet-day --split 200

For each host folder of the bundle (``lb-1/access.log`` + ``error.log``...), the host's
access lines (stdout) and error lines (stderr) are merged in time order into the records of
the format, each record timed by its line (an access line's ``$time_local``, an error line's
time read as UTC; a line without one takes the previous time) and named after the host
where the format has a place for it (CRI path, journald ``_HOSTNAME``, Loki labels,
CloudWatch log stream, ``host.name``, Cloud Logging labels). Other folders (the alert
receiver's) are copied unchanged. The result, built with ``incident-timeline build``, gives
the same incident as the bundle itself (``tests/test_wrap_seed.py``).

``--split N`` cuts lines longer than N bytes into several records where the format does
(Docker's 16 KB pieces, CRI ``P`` partials; default 16384, as Docker and the kubelet).
Stdlib only; the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import re
import shutil
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
_ACCESS_TIME = re.compile(rb"\[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\]")
_ERROR_TIME = re.compile(rb"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) ")
_MONTHS = {m: i for i, m in enumerate(
    b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


@dataclass(frozen=True)
class Line:
    """One Nginx line (without its newline), its UTC time and its stream."""

    text: bytes
    ts: float
    stream: str  # "stdout" (access log) or "stderr" (error log)


def line_time(text: bytes, error: bool) -> float | None:
    """The UTC time a line carries, or None."""
    if error:
        m = _ERROR_TIME.match(text)
        if m is None:
            return None
        y, mo, d, hh, mi, ss = (int(x) for x in m.groups())
        return float(calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0)))
    a = _ACCESS_TIME.search(text)
    if a is None:
        return None
    g = a.groups()
    off = (int(g[7]) * 3600 + int(g[8]) * 60) * (1 if g[6] == b"+" else -1)
    return float(calendar.timegm((int(g[2]), _MONTHS[g[1]], int(g[0]), int(g[3]), int(g[4]),
                                  int(g[5]), 0, 0, 0)) - off)


def read_lines(path: Path, stream: str) -> list[Line]:
    """A log's lines with their times (a line without one takes the previous time)."""
    out: list[Line] = []
    prev = 0.0
    for raw in path.read_bytes().split(b"\n"):
        if not raw:
            continue
        ts = line_time(raw, stream == "stderr")
        prev = ts if ts is not None else prev
        out.append(Line(raw, prev, stream))
    return out


def merged(folder: Path) -> list[Line]:
    """The host's access and error lines in time order (stable: file order on ties, the
    error log's line first, as Nginx writes it before the access line)."""
    lines: list[Line] = []
    for name, stream in (("error.log", "stderr"), ("access.log", "stdout")):
        if (folder / name).exists():
            lines.extend(read_lines(folder / name, stream))
    return sorted(lines, key=lambda ln: ln.ts)


def rfc3339(ts: float, digits: int = 9) -> str:
    """``2023-03-20T12:30:02.000000000Z``."""
    whole = int(ts)
    frac = f"{ts - whole:.{digits}f}"[2:]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{frac}Z"


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _pieces(text: bytes, split: int) -> list[bytes]:
    return [text[i : i + split] for i in range(0, len(text), split)] or [b""]


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --- the formats: each writes one host's lines under ``out`` -----------------------------

def docker_json(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``/var/lib/docker/containers/ID/ID-json.log`` (here ``HOST/ID-json.log``)."""
    rows = []
    for ln in lines:
        # (Docker cuts at 16 KB of bytes; cut here between characters, so that no
        # character is lost to JSON's replacement of a torn one.)
        whole = ln.text.decode("utf-8", "replace")
        parts = [whole[i : i + split] for i in range(0, len(whole), split)] or [""]
        for i, part in enumerate(parts):
            end = "\n" if i == len(parts) - 1 else ""
            rows.append(_dump({"log": part + end, "stream": ln.stream,
                               "time": rfc3339(ln.ts)}))
    _write(out / host / "0123456789ab-json.log", rows)


def cri(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``/var/log/pods/NAMESPACE_POD_UID/CONTAINER/0.log``, the pod named after the host."""
    rows = []
    for ln in lines:
        parts = _pieces(ln.text, split)
        for i, part in enumerate(parts):
            tag = "F" if i == len(parts) - 1 else "P"
            rows.append(f"{rfc3339(ln.ts)} {ln.stream} {tag} {_text(part)}")
    _write(out / "pods" / f"shop_{host}_6b0f2c1e-0000-4000-8000-000000000001" / "nginx" /
           "0.log", rows)


def timestamped(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``kubectl logs --timestamps POD > HOST/kubectl.log``."""
    _write(out / host / "kubectl.log", [f"{rfc3339(ln.ts)} {_text(ln.text)}" for ln in lines])


def _journal_fields(host: str, ln: Line) -> dict[str, object]:
    return {"__REALTIME_TIMESTAMP": str(round(ln.ts * 1e6)), "_HOSTNAME": host,
            "SYSLOG_IDENTIFIER": "nginx", "_TRANSPORT": "syslog",
            "PRIORITY": "6" if ln.stream == "stdout" else "3"}


def journald_json(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``journalctl -o json``; a message that is not UTF-8 as an array of byte values."""
    rows = []
    for ln in lines:
        fields = _journal_fields(host, ln)
        try:
            fields["MESSAGE"] = ln.text.decode("utf-8")
        except UnicodeDecodeError:
            fields["MESSAGE"] = list(ln.text)
        rows.append(_dump(fields))
    _write(out / host / "journal.json", rows)


def journald_export(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``journalctl -o export``; every fifth message as a binary field (as journald writes
    one that is not printable text)."""
    data = bytearray()
    for i, ln in enumerate(lines):
        for key, value in _journal_fields(host, ln).items():
            data += f"{key}={value}\n".encode()
        if i % 5 == 4:
            data += b"MESSAGE\n" + struct.pack("<Q", len(ln.text)) + ln.text + b"\n"
        else:
            data += b"MESSAGE=" + ln.text + b"\n"
        data += b"\n"
    path = out / host / "journal.export"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


_ACCESS = re.compile(
    rb'^(\S+) - (\S+) \[[^\]]+\] "(\S+) (\S+) HTTP/([\d.]+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"')
_ERROR = re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$")


def _ecs(host: str, ln: Line, raw: bool) -> dict[str, object]:
    """A Filebeat nginx-module document: the raw line in ``event.original`` (``raw``), or
    only the fields the module's pipeline parses from it."""
    dataset = "nginx.access" if ln.stream == "stdout" else "nginx.error"
    doc: dict[str, object] = {"@timestamp": rfc3339(ln.ts, 3), "host": {"name": host},
                              "event": {"dataset": dataset, "module": "nginx"},
                              "ecs": {"version": "8.0.0"}}
    if raw:
        doc["event"] = {"dataset": dataset, "module": "nginx", "original": _text(ln.text)}
        return doc
    a = _ACCESS.match(ln.text) if ln.stream == "stdout" else None
    e = _ERROR.match(ln.text) if ln.stream == "stderr" else None
    if a is not None:
        ip, user, method, url, version, status, size, ref, ua = (_text(x) for x in a.groups())
        doc.update({"source": {"address": ip, "ip": ip},
                    "http": {"request": {"method": method, **({"referrer": ref}
                                                             if ref != "-" else {})},
                             "version": version,
                             "response": {"status_code": int(status),
                                          "body": {"bytes": int(size) if size != "-" else 0}}},
                    "url": {"original": url}})
        if ua != "-":
            doc["user_agent"] = {"original": ua}
        if user != "-":
            doc["user"] = {"name": user}
    elif e is not None:
        level, pid, tid, conn, msg = e.groups()
        doc.update({"log": {"level": _text(level)},
                    "process": {"pid": int(pid), "thread": {"id": int(tid)}},
                    "message": _text(msg)})
        if conn is not None:
            doc["nginx"] = {"error": {"connection_id": int(conn)}}
    else:
        doc["message"] = _text(ln.text)
    return doc


def _hit(host: str, i: int, ln: Line, raw: bool) -> dict[str, object]:
    return {"_index": ".ds-filebeat-8.6.2-2023.03.20-000001", "_id": f"{host}-{i:07d}",
            "_score": None, "_source": _ecs(host, ln, raw)}


def elasticsearch(out: Path, host: str, lines: list[Line], split: int) -> None:
    """A ``_search`` answer (newest first, as ``"sort": [{"@timestamp": "desc"}]``)."""
    hits = [_hit(host, i, ln, True) for i, ln in enumerate(lines)][::-1]
    doc = {"took": 12, "timed_out": False,
           "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
           "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None,
                    "hits": hits}}
    _write(out / host / "search.json", [json.dumps(doc, indent=2, ensure_ascii=False)])


def elasticsearch_ecs(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``elasticdump --output`` of documents that only kept the ECS fields."""
    _write(out / host / "filebeat.ndjson",
           [_dump(_hit(host, i, ln, False)) for i, ln in enumerate(lines)])


def loki_api(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``curl .../loki/api/v1/query_range``: a stream per log file, newest first."""
    result = []
    for stream, name in (("stdout", "access.log"), ("stderr", "error.log")):
        values = [[str(round(ln.ts * 1e9)), _text(ln.text)] for ln in lines
                  if ln.stream == stream][::-1]
        if values:
            result.append({"stream": {"host": host, "job": "nginx",
                                      "filename": f"/var/log/nginx/{name}"}, "values": values})
    doc = {"status": "success", "data": {"resultType": "streams", "result": result,
                                         "stats": {}}}
    _write(out / host / "query_range.json", [_dump(doc)])


def loki_jsonl(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``logcli query --output=jsonl`` (newest first, times in the local zone: UTC here)."""
    rows = [_dump({"labels": {"host": host, "job": "nginx"}, "line": _text(ln.text),
                   "timestamp": rfc3339(ln.ts).replace("Z", "+00:00")})
            for ln in reversed(lines)]
    _write(out / host / "logcli.jsonl", rows)


def cloudwatch_logs(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``aws logs filter-log-events --log-group-name nginx`` (the log stream is the host)."""
    events = [{"logStreamName": host, "timestamp": round(ln.ts * 1000),
               "message": _text(ln.text), "ingestionTime": round(ln.ts * 1000) + 480,
               "eventId": f"{i:056d}"} for i, ln in enumerate(lines)]
    doc = {"events": events, "searchedLogStreams": [
        {"logStreamName": host, "searchedCompletely": True}]}
    _write(out / host / "filter-log-events.json", [json.dumps(doc, indent=4,
                                                              ensure_ascii=False)])


def cloudwatch_s3(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``aws logs create-export-task`` to S3: ``TASK/STREAM/000000.gz``, a time per line."""
    path = out / "exportedlogs" / host / "000000.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{rfc3339(ln.ts, 3)} {_text(ln.text)}\n" for ln in lines)
    path.write_bytes(gzip.compress(text.encode("utf-8", "surrogateescape"), mtime=0))


def _gcp_entry(host: str, i: int, ln: Line, http: bool) -> dict[str, object]:
    entry: dict[str, object] = {
        "insertId": f"{host}{i:08d}", "timestamp": rfc3339(ln.ts),
        "receiveTimestamp": rfc3339(ln.ts + 0.5), "severity": "INFO",
        "logName": f"projects/shop/logs/{ln.stream}",
        "resource": {"type": "k8s_container", "labels": {
            "project_id": "shop", "namespace_name": "shop", "pod_name": host,
            "container_name": "nginx", "cluster_name": "prod"}}}
    a = _ACCESS.match(ln.text) if http and ln.stream == "stdout" else None
    if a is None:
        entry["textPayload"] = _text(ln.text)
        return entry
    # Cloud Logging holds the values themselves, not Nginx's \xHH escapes of them.
    ip, _, method, url, version, status, size, ref, ua = (
        _text(re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), x))
        for x in a.groups())
    req: dict[str, object] = {"requestMethod": method, "requestUrl": url,
                              "status": int(status), "responseSize": size if size != "-" else "0",
                              "remoteIp": ip, "protocol": f"HTTP/{version}"}
    if ref != "-":
        req["referer"] = ref
    if ua != "-":
        req["userAgent"] = ua
    entry["httpRequest"] = req
    entry["jsonPayload"] = {}
    return entry


def gcp_logging(out: Path, host: str, lines: list[Line], split: int) -> None:
    """``gcloud logging read ... --format=json`` of a GKE container (newest first)."""
    entries = [_gcp_entry(host, i, ln, False) for i, ln in enumerate(lines)][::-1]
    _write(out / host / "entries.json", [json.dumps(entries, indent=2, ensure_ascii=False)])


def gcp_http(out: Path, host: str, lines: list[Line], split: int) -> None:
    """A Cloud Logging sink's JSON lines where the requests are ``httpRequest`` fields."""
    _write(out / host / "requests.jsonl",
           [_dump(_gcp_entry(host, i, ln, True)) for i, ln in enumerate(lines)])


def _write(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(r + "\n" for r in rows).encode("utf-8", "surrogateescape"))


Writer = Callable[[Path, str, list[Line], int], None]
FORMATS: dict[str, Writer] = {
    "docker-json": docker_json,
    "cri": cri,
    "timestamped": timestamped,
    "journald-json": journald_json,
    "journald-export": journald_export,
    "elasticsearch": elasticsearch,
    "elasticsearch-ecs": elasticsearch_ecs,
    "loki-api": loki_api,
    "loki-jsonl": loki_jsonl,
    "cloudwatch-logs": cloudwatch_logs,
    "cloudwatch-s3": cloudwatch_s3,
    "gcp-logging": gcp_logging,
    "gcp-http": gcp_http,
}


def rewrap(bundle: Path, fmt: str, out: Path, split: int = 16384) -> None:
    """Write ``bundle`` re-wrapped in ``fmt`` into ``out``."""
    writer = FORMATS[fmt]
    for folder in sorted(p for p in bundle.iterdir() if p.is_dir()):
        if (folder / "access.log").exists() or (folder / "error.log").exists():
            writer(out, folder.name, merged(folder), split)
        else:
            shutil.copytree(folder, out / folder.name, dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``rewrap.py FORMAT|all OUT [--bundle DIR] [--split N]``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("format", choices=[*FORMATS, "all"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--bundle", type=Path, default=HERE / "seed-outage")
    ap.add_argument("--split", type=int, default=16384)
    args = ap.parse_args(argv)
    names = list(FORMATS) if args.format == "all" else [args.format]
    for name in names:
        target = args.out / name if args.format == "all" else args.out
        rewrap(args.bundle, name, target, args.split)
        print(f"{name}: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

