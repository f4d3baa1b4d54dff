"""Log stores' exports: Elasticsearch/OpenSearch (Filebeat/ECS documents), Grafana Loki,
CloudWatch Logs and Google Cloud Logging.

- **Elasticsearch / OpenSearch**: a ``_search`` answer (``hits.hits[]._source``, read
  whole) or documents one a line (``elasticdump`` output ``{"_index", "_id", "_source"}``,
  or bare ``_source`` documents). The raw line is ``event.original`` or ``message`` (keys
  nested or dotted); when only the ECS fields Filebeat's nginx module parsed remain, the
  line is built from them: an access line (combined) from ``source.ip``/``source.address``,
  ``user.name``, ``@timestamp``, ``http.request.method``, ``url.original``,
  ``http.version``, ``http.response.status_code``, ``http.response.body.bytes``,
  ``http.request.referrer``, ``user_agent.original``; an error entry (``event.dataset``
  ``nginx.error``, ``log.level``, ``process.pid``, ``nginx.error.connection_id``, the
  message) in the error log's layout, timed in UTC. The host is ``host.name`` (or
  ``host.hostname``, ``agent.hostname``).
- **Loki**: the query API's answer (``data.result[]``: ``stream`` labels and ``values`` of
  ``[nanoseconds, line]``, read whole) or ``logcli query --output=jsonl`` (``labels``,
  ``line``, ``timestamp`` a line). ``logcli --output=raw`` is the plain log, and
  ``--output=default`` (time, labels, line) is read by the timestamped layout. The host is
  the label ``host``, ``hostname``, ``pod``, ``instance`` or ``node_name``.
- **CloudWatch Logs**: ``aws logs filter-log-events`` / ``get-log-events`` answers
  (``events[]``: ``timestamp`` in milliseconds, ``message``, ``logStreamName`` as the host;
  read whole). An export to S3 (gzip, ``2023-03-20T12:30:00.000Z line``) is read by the
  timestamped layout.
- **Google Cloud Logging**: ``gcloud logging read --format=json`` (an array) or a sink's
  JSON lines. ``textPayload`` (or ``jsonPayload.message``) holds the raw line; a load
  balancer's or Cloud Run's entry has the request in ``httpRequest`` (``requestMethod``,
  ``requestUrl``, ``status``, ``responseSize``, ``userAgent``, ``remoteIp``, ``referer``,
  ``latency``), from which a combined line with ``$request_time`` is built. The host is
  ``resource.labels`` ``pod_name``/``instance_id``/``service_name``; a GKE ``logName``
  ending in ``stdout``/``stderr`` gives the stream.

A whole-document export is numbered by record (1, 2, 3... in the document), as the alert
exports are; a store returns newest first, so records are read in time order.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from parsers.base import ParseError, ParseOptions, ParseStats
from parsers.export import parse_rfc3339
from parsers.wrap import (
    DocumentLayout,
    LineLayout,
    Unwrapped,
    Wrapper,
    epoch_stamp,
    first_line,
    json_lines,
)

#: A record: (its number, its document, its raw text for excerpts; None: the document's
#: JSON, made only when the record is rejected).
Record = tuple[int, Any, bytes | None]
#: What a store's record gives: the line, its UTC time (or None), its host, its stream; or
#: a string: why the record has no line (it is rejected).
Inner = tuple[bytes, float | None, str, str] | str


def _get(doc: Any, dotted: str) -> Any:
    """A field by its dotted ECS name, nested (``{"url": {"original": ...}}``) or flat
    (``{"url.original": ...}``) or both."""
    if not isinstance(doc, dict):
        return None
    if dotted in doc:
        return doc[dotted]
    head, _, rest = dotted.partition(".")
    while rest:
        if head in doc:
            found = _get(doc[head], rest)
            if found is not None:
                return found
        more, _, rest = rest.partition(".")
        head = f"{head}.{more}"
    return None


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return _str(value[0]) if value else ""
    return value if isinstance(value, str) else json.dumps(value)


def _quoted(value: str | None, nginx_text: bool) -> str:
    """A value as Nginx writes it between quotes (escape=default): ``"``, control bytes
    and (unless ``nginx_text``, a value cut from an Nginx line, whose backslashes already
    start Nginx's escapes) ``\\`` as ``\\xHH``; a missing one (None) as ``-``."""
    if value is None:
        return "-"
    special = r'["\x00-\x1f\x7f]' if nginx_text else r'["\\\x00-\x1f\x7f]'
    return re.sub(special, lambda m: f"\\x{ord(m.group()):02X}", value)


def time_local(ts: float) -> str:
    """Epoch seconds as Nginx's ``$time_local`` in UTC: ``20/Mar/2023:12:30:00 +0000``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(int(ts)))


def access_line(*, client: str, user: str, ts: float, method: str, url: str, protocol: str,
                status: int, size: str, referer: str | None, agent: str | None,
                request_time: str | None = None, nginx_text: bool = False) -> bytes:
    """A combined access line (plus ``$request_time``) from a store's parsed fields
    (``nginx_text``: cut from an Nginx line, with its escapes, as Filebeat's are)."""
    request = " ".join(p for p in (method, url, protocol) if p)
    esc = nginx_text
    line = (f'{client or "-"} - {user or "-"} [{time_local(ts)}] "{_quoted(request, esc)}" '
            f'{status:03d} {size or "0"} "{_quoted(referer, esc)}" "{_quoted(agent, esc)}"')
    if request_time is not None:
        line += f" {request_time}"
    return line.encode("utf-8", "surrogatepass")


def _present(value: Any) -> str | None:
    """A field's text, None when the field is missing (Nginx's ``-``)."""
    return None if value is None else _str(value)


def _epoch(value: Any) -> float | None:
    """An RFC 3339 text or epoch milliseconds as epoch seconds; None when neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0
    if isinstance(value, str) and value:
        try:
            return parse_rfc3339(value)
        except ValueError:
            return None
    return None


# --- reading the records of a file ----------------------------------------------------


def _document(block: bytes, options: ParseOptions, what: str) -> Any:
    try:
        return json.loads(block.lstrip(b"\xef\xbb\xbf"))
    except ValueError as exc:
        raise ParseError(f"{options.display_path}: not valid JSON ({what}): {exc} "
                         "(export the whole answer, or JSON lines)") from None


def _body(head: bytes) -> bytes:
    """A document's first bytes without a byte order mark and leading blank space."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def _items(head: bytes, array: bytes) -> list[Any]:
    """The complete items of the first JSON array that ``array`` (a pattern ending at its
    ``[``) finds in a document's first bytes (a head cut anywhere): for sniffing a
    whole-document export from its start."""
    m = re.search(array, head)
    if m is None:
        return []
    text = head[m.end() :].decode("utf-8", "replace")
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            return out
        try:
            value, i = dec.raw_decode(text, i)
        except ValueError:
            return out
        out.append(value)


def _unwrap_records(records: Iterator[Record], inner: Callable[[Any], Inner],
                    stats: ParseStats, options: ParseOptions, times: bool,
                    in_time_order: bool) -> Unwrapped:
    """Records to inner lines; a record without a line is rejected with the reason."""
    got: list[tuple[float, int, bytes, str, str]] = []
    for number, doc, raw in records:
        res = inner(doc)
        if isinstance(res, str):
            text = raw if raw is not None else json.dumps(doc, separators=(",", ":"))[
                :400].encode("utf-8", "surrogatepass")
            stats.reject(number, res, text, options)
            continue
        line, ts, host, stream = res
        if b"\n" in line.rstrip(b"\n"):
            parts = line.rstrip(b"\n").split(b"\n")
            stats.lines += len(parts) - 1  # a record of several lines counts as that many
        else:
            parts = [line.rstrip(b"\r\n")]
        for part in parts:
            got.append((ts if ts is not None else float("nan"), number, part, host, stream))
    if in_time_order:
        # NaN times (none) keep their place after the others; ties keep document order.
        got.sort(key=lambda r: (r[0] != r[0], r[0] if r[0] == r[0] else 0.0, r[1]))
    hosts = [r[3] for r in got]
    streams = [r[4] for r in got]
    stamps = [epoch_stamp(r[0]) if r[0] == r[0] else b"" for r in got] if times else []
    return Unwrapped([r[2] for r in got], [r[1] for r in got], stamps,
                     hosts if any(hosts) else [], streams if any(streams) else [])


def _whole(block: bytes, first: int, stats: ParseStats, options: ParseOptions, what: str,
           items: Callable[[Any], list[Any] | None]) -> Iterator[Record]:
    """A whole-document export's records, numbered from ``first``."""
    doc = _document(block, options, what)
    found = items(doc)
    if found is None:
        raise ParseError(f"{options.display_path}: not {what} (its records were not found)")
    for i, rec in enumerate(found):
        stats.lines += 1
        yield first + i, rec, None


class _StoreDocument(DocumentLayout):
    """A store's whole-document answer: its records (``_records``) read through ``_inner``,
    in time order."""

    WHAT = ""  # what the document is, for the error when it is not
    _records: staticmethod[[Any], list[Any] | None]
    _inner: staticmethod[[Any], Inner]

    def unwrap(self, block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The lines of the document's records, in time order."""
        recs = _whole(block, first, stats, options, self.WHAT, self._records)
        return _unwrap_records(recs, self._inner, stats, options, times, True)

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """None: an answer may hold many hosts (each record says its own)."""
        return None


class _StoreLines(LineLayout):
    """A store's records one a line: each line's JSON read through ``_inner``."""

    WHAT = ""  # what a line is, for the reject of one that is not JSON
    #: Put a block's records in time order (the store prints newest first).
    IN_TIME_ORDER = False
    _inner: staticmethod[[Any], Inner]

    def unwrap(self, block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The lines of a block of records (in file order, or time order within the block
        when ``IN_TIME_ORDER``)."""
        recs = json_lines(block, first, stats, options, f"not valid JSON ({self.WHAT} expected)")
        return _unwrap_records(recs, self._inner, stats, options, times, self.IN_TIME_ORDER)


# --- Elasticsearch / OpenSearch ----------------------------------------------------------

_ECS_HOST = ("host.name", "host.hostname", "agent.hostname", "agent.name")


def _ecs_inner(rec: Any) -> Inner:
    """The Nginx line of one hit or document."""
    src = rec.get("_source", rec) if isinstance(rec, dict) else None
    if not isinstance(src, dict):
        return "not an Elasticsearch document (no _source object)"
    ts = _epoch(_get(src, "@timestamp"))
    host = next((_str(_get(src, k)) for k in _ECS_HOST if _get(src, k)), "")
    raw = _get(src, "event.original")
    if not isinstance(raw, str):
        msg = _get(src, "message")
        dataset = _str(_get(src, "event.dataset")) or _str(_get(src, "fileset.name"))
        if isinstance(msg, str) and not dataset.endswith("error"):
            raw = msg
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass"), ts, host, ""
    if ts is None:
        return "document without @timestamp, event.original or message"
    status = _get(src, "http.response.status_code")
    if status is not None:
        return _ecs_access(src, ts), ts, host, ""
    msg = _get(src, "message")
    if isinstance(msg, str):
        return _ecs_error(src, ts, msg), ts, host, ""
    return "document without the raw line (event.original, message) or http fields"


def _ecs_access(src: Any, ts: float) -> bytes:
    version = _str(_get(src, "http.version"))
    try:
        status = int(_get(src, "http.response.status_code"))
    except (TypeError, ValueError):
        status = 0
    client = (_str(_get(src, "source.address")) or _str(_get(src, "source.ip"))
              or _str(_get(src, "client.ip")))
    size = _get(src, "http.response.body.bytes")
    return access_line(
        client=client, user=_str(_get(src, "user.name")), ts=ts,
        method=_str(_get(src, "http.request.method")), url=_str(_get(src, "url.original")),
        protocol=f"HTTP/{version}" if version else "", status=status,
        size=str(int(size)) if isinstance(size, (int, float)) else _str(size),
        referer=_present(_get(src, "http.request.referrer")),
        agent=_present(_get(src, "user_agent.original")), nginx_text=True)


def _ecs_error(src: Any, ts: float, msg: str) -> bytes:
    level = _str(_get(src, "log.level")) or "error"
    pid = _str(_get(src, "process.pid")) or "0"
    tid = _str(_get(src, "process.thread.id")) or pid
    conn = _get(src, "nginx.error.connection_id")
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(int(ts)))
    text = f"{stamp} [{level}] {pid}#{tid}: " + (f"*{conn} " if conn is not None else "") + msg
    return text.encode("utf-8", "surrogatepass")


def _hits(doc: Any) -> list[Any] | None:
    hits = _get(doc, "hits.hits") if isinstance(doc, dict) else None
    if isinstance(hits, list):
        return hits
    if isinstance(doc, list):  # a bare array of hits or documents
        return doc
    return None


class _Elastic(_StoreDocument):
    NAME = "elasticsearch"
    DESCRIPTION = ("Elasticsearch/OpenSearch _search answer (hits.hits[]._source, ECS), or "
                   "an array of its hits")
    WHAT = "an Elasticsearch _search answer"
    _records, _inner = staticmethod(_hits), staticmethod(_ecs_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """A JSON object with ``hits`` and a ``_source`` in it, or an array of hits or ECS
        documents (``jq .hits.hits``, Filebeat's own test output)."""
        body = _body(head)
        if body[:1] == b"[":
            return b'"_source"' in body[:4096] or (
                b'"@timestamp"' in body[:4096] and re.search(
                    rb'"(?:ecs\.version|event\.dataset|ecs|event)"\s*:', body[:4096]) is not None)
        return (body[:1] == b"{" and re.search(rb'"hits"\s*:\s*\{', body) is not None
                and b'"_source"' in body)

    @staticmethod
    def head_block(head: bytes) -> bytes:
        """The head's first complete hits, as a document."""
        array = rb"\A[\xef\xbb\xbf \t\r\n]*\[" if head.lstrip()[:1] == b"[" else (
            rb'"hits"\s*:\s*\[')
        return json.dumps({"hits": {"hits": _items(head, array)}}).encode()


class _ElasticLines(_StoreLines):
    NAME = "elasticsearch-ndjson"
    DESCRIPTION = "Elasticsearch/OpenSearch documents one a line (elasticdump, ECS)"
    WHAT = "an Elasticsearch document"
    _inner = staticmethod(_ecs_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """The first line is a hit (``_source``) or a shipper's ECS document
        (``@timestamp`` with ``ecs.version``, ``event.original`` or ``agent.type``)."""
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].strip()
        if not (first.startswith(b"{") and first.endswith(b"}")):
            return False
        try:
            doc = json.loads(first)
        except ValueError:
            return False
        if not isinstance(doc, dict):
            return False
        src = doc.get("_source", doc)
        # (Not any JSON with ECS names: an Nginx log_format may use them, and is read by
        # its keys as a plain JSON access log.)
        return isinstance(src, dict) and ("_source" in doc or (
            _get(src, "@timestamp") is not None and (
                _get(src, "ecs.version") is not None or _get(src, "event.original") is not None
                or _get(src, "agent.type") is not None)))

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The first document's ``host.name``."""
        try:
            doc = json.loads(first_line(head))
        except ValueError:
            return None
        res = _ecs_inner(doc)
        return None if isinstance(res, str) or not res[2] else res[2]


# --- Loki ----------------------------------------------------------------------------------

_LOKI_HOST = ("host", "hostname", "pod", "instance", "node_name", "nodename")


def _label_host(labels: Any) -> str:
    if not isinstance(labels, dict):
        return ""
    return next((_str(labels[k]) for k in _LOKI_HOST if labels.get(k)), "")


def _loki_values(doc: Any) -> list[Any] | None:
    """The API answer's entries, each ``[labels, [ns, line]]``."""
    result = _get(doc, "data.result")
    if not isinstance(result, list):
        return None
    out: list[Any] = []
    for stream in result:
        labels = stream.get("stream") if isinstance(stream, dict) else None
        values = stream.get("values") if isinstance(stream, dict) else None
        for value in values if isinstance(values, list) else [None]:
            out.append([labels, value])
    return out


def _loki_inner(rec: Any) -> Inner:
    labels, value = rec
    if not (isinstance(value, list) and len(value) >= 2 and isinstance(value[1], str)):
        return "Loki entry that is not [nanoseconds, line]"
    try:
        ts = int(value[0]) / 1e9
    except (TypeError, ValueError):
        return "Loki entry without a time in nanoseconds"
    return value[1].encode("utf-8", "surrogatepass"), ts, _label_host(labels), ""


def _logcli_inner(rec: Any) -> Inner:
    if not isinstance(rec, dict) or not isinstance(rec.get("line"), str):
        return "not a logcli entry (labels, line, timestamp)"
    ts = _epoch(rec.get("timestamp"))
    if ts is None:
        return "logcli entry without a timestamp"
    return rec["line"].encode("utf-8", "surrogatepass"), ts, _label_host(rec.get("labels")), ""


class _LokiApi(_StoreDocument):
    NAME = "loki-api"
    DESCRIPTION = "Grafana Loki query API answer (data.result[].stream + values)"
    WHAT = "a Loki query answer"
    _records, _inner = staticmethod(_loki_values), staticmethod(_loki_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """A JSON object with ``resultType`` ``streams``."""
        body = _body(head)
        return body[:1] == b"{" and re.search(rb'"resultType"\s*:\s*"streams"', body) is not None

    @staticmethod
    def head_block(head: bytes) -> bytes:
        """The head's first stream's labels and complete values, as an answer."""
        m = re.search(rb'"stream"\s*:\s*(\{[^{}]*\})', head)
        labels = json.loads(m.group(1)) if m else {}
        values = _items(head, rb'"values"\s*:\s*\[')
        return json.dumps({"data": {"resultType": "streams", "result": [
            {"stream": labels, "values": values}]}}).encode()


class _LogcliJsonl(_StoreLines):
    NAME = "loki-jsonl"
    DESCRIPTION = "Grafana Loki logcli --output=jsonl (labels, line, timestamp)"
    WHAT = "a logcli entry"
    # logcli prints newest first: put in time order within the block.
    IN_TIME_ORDER = True
    _inner = staticmethod(_logcli_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """The first line has ``line`` and ``timestamp`` (and maybe ``labels``)."""
        first = first_line(head)
        return (first.startswith(b"{") and b'"line":' in first and b'"timestamp":' in first)

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The first entry's host label."""
        m = re.search(rb'"labels":(\{[^{}]*\})', head.split(b"\n", 1)[0])
        try:
            return _label_host(json.loads(m.group(1))) or None if m else None
        except ValueError:
            return None


# --- CloudWatch Logs ------------------------------------------------------------------------


def _cw_events(doc: Any) -> list[Any] | None:
    events = doc.get("events") if isinstance(doc, dict) else None
    return events if isinstance(events, list) else None


def _cw_inner(rec: Any) -> Inner:
    if not isinstance(rec, dict) or not isinstance(rec.get("message"), str):
        return "CloudWatch Logs event without a message"
    ts = _epoch(rec.get("timestamp"))
    if ts is None:
        return "CloudWatch Logs event without a timestamp (milliseconds)"
    return rec["message"].encode("utf-8", "surrogatepass"), ts, _str(
        rec.get("logStreamName")), ""


class _CloudWatch(_StoreDocument):
    NAME = "cloudwatch-logs"
    DESCRIPTION = "aws logs filter-log-events / get-log-events answer (events[])"
    WHAT = "a CloudWatch Logs answer"
    _records, _inner = staticmethod(_cw_events), staticmethod(_cw_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """A JSON object with ``events`` whose items have ``timestamp`` and ``message``."""
        body = _body(head)
        return (body[:1] == b"{" and re.search(rb'"events"\s*:\s*\[', body) is not None
                and b'"message"' in body and (b'"ingestionTime"' in body
                                              or b'"logStreamName"' in body))

    @staticmethod
    def head_block(head: bytes) -> bytes:
        """The head's first complete events, as an answer."""
        return json.dumps({"events": _items(head, rb'"events"\s*:\s*\[')}).encode()

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The first event's log stream."""
        m = re.search(rb'"logStreamName"\s*:\s*"([^"\\]+)"', head)
        return m.group(1).decode("utf-8", "replace") if m else None


# --- Google Cloud Logging ------------------------------------------------------------------

_GCP_HOST = ("pod_name", "instance_id", "service_name", "container_name", "host")


def _gcp_inner(rec: Any) -> Inner:
    if not isinstance(rec, dict):
        return "not a Cloud Logging entry (JSON object)"
    ts = _epoch(rec.get("timestamp")) or _epoch(rec.get("receiveTimestamp"))
    labels = _get(rec, "resource.labels")
    host = next((_str(labels[k]) for k in _GCP_HOST
                 if isinstance(labels, dict) and labels.get(k)), "")
    log = _str(rec.get("logName"))
    stream = "stderr" if log.endswith("stderr") else "stdout" if log.endswith("stdout") else ""
    text = rec.get("textPayload")
    if not isinstance(text, str):
        text = _get(rec, "jsonPayload.message")
    req = rec.get("httpRequest")
    if isinstance(req, dict) and req.get("status") is not None and ts is not None:
        return _gcp_access(req, ts), ts, host, stream
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass"), ts, host, stream
    if isinstance(req, dict):  # say which part is missing: the request is there
        if ts is None:
            return "Cloud Logging httpRequest entry without a timestamp or receiveTimestamp"
        return ("Cloud Logging httpRequest without a status (no response was sent, e.g. a "
                "TLS handshake that failed)")
    return "Cloud Logging entry without httpRequest, textPayload or jsonPayload.message"


def _gcp_access(req: dict[str, Any], ts: float) -> bytes:
    url = _str(req.get("requestUrl"))
    parts = urlsplit(url)
    if parts.scheme:
        url = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    latency = _str(req.get("latency"))
    try:
        rt = f"{float(latency.rstrip('s')):.3f}" if latency else None
    except ValueError:
        rt = None
    try:
        status = int(req["status"])
    except (TypeError, ValueError):
        status = 0
    # (Cloud Logging logs the time the request arrived; Nginx logs when it ended.)
    return access_line(
        client=_str(req.get("remoteIp")), user="", ts=ts, method=_str(req.get("requestMethod")),
        url=url, protocol=_str(req.get("protocol")), status=status,
        size=_str(req.get("responseSize")), referer=_present(req.get("referer")),
        agent=_present(req.get("userAgent")), request_time=rt or "-")


def _gcp_list(doc: Any) -> list[Any] | None:
    return doc if isinstance(doc, list) else None


def _gcp_like(text: bytes) -> bool:
    return (b'"logName"' in text or b'"insertId"' in text) and (
        b'"httpRequest"' in text or b'"textPayload"' in text or b'"jsonPayload"' in text)


class _Gcp(_StoreDocument):
    NAME = "gcp-logging"
    DESCRIPTION = "Google Cloud Logging entries (gcloud logging read --format=json)"
    WHAT = "a Cloud Logging export"
    _records, _inner = staticmethod(_gcp_list), staticmethod(_gcp_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """A JSON array of log entries."""
        body = _body(head)
        return body[:1] == b"[" and _gcp_like(body[:4096])

    @staticmethod
    def head_block(head: bytes) -> bytes:
        """The head's first complete entries, as an array."""
        return json.dumps(_items(head, rb"\A[\xef\xbb\xbf \t\r\n]*\[")).encode()


class _GcpLines(_StoreLines):
    NAME = "gcp-logging-jsonl"
    DESCRIPTION = "Google Cloud Logging entries one a line (a sink's export)"
    WHAT = "a Cloud Logging entry"
    _inner = staticmethod(_gcp_inner)

    @staticmethod
    def sniff(head: bytes) -> bool:
        """The first line is a log entry."""
        first = first_line(head)
        return first.startswith(b"{") and _gcp_like(first)

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The first entry's resource."""
        try:
            res = _gcp_inner(json.loads(first_line(head)))
        except ValueError:
            return None
        return None if isinstance(res, str) or not res[2] else res[2]


ELASTIC = _Elastic()
LOKI_API = _LokiApi()
CLOUDWATCH = _CloudWatch()
GCP = _Gcp()
#: The stores' JSON layouts, in sniffing order (before the container runtimes').
WRAPPERS: tuple[Wrapper, ...] = (ELASTIC, LOKI_API, CLOUDWATCH, GCP, _LogcliJsonl(),
                                 _GcpLines(), _ElasticLines())
