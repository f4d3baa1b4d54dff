"""Real samples of each record layout, from the projects' own repositories and documentation
(``tests/data/wrap/README.md``): exact counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import timeline
from parsers import nginx_access, nginx_error, wrap
from parsers.base import ParseOptions, ParseStats

DATA = Path(__file__).parent / "data" / "wrap"


def _read(name: str, module: object, wrapper: str) -> tuple[list[object], ParseStats]:
    """The file through ``wrapper`` and ``module`` (for samples whose lines are not Nginx's,
    which sniffing rightly leaves alone)."""
    head = (DATA / name).read_bytes()[:16384]
    assert wrap.by_name(wrapper).sniff(head)
    # The first layout that knows the head is this one (none of its records has an Nginx
    # line when sniffing finds nothing).
    assert next(w.NAME for w in wrap.registry() if w.sniff(head)) == wrapper
    opts = ParseOptions(wrapper=wrapper, compact=False)
    fn = wrap.reader(module, opts)  # type: ignore[arg-type]
    assert fn is not None
    stats = ParseStats()
    with (DATA / name).open("rb") as fh:
        chunks = list(fn(fh, stats, opts))
    stats.check()
    return chunks, stats


def _counts(stats: ParseStats) -> tuple[int, int, int, int]:
    return stats.lines, stats.parsed, stats.rejected, stats.skipped


def test_docker_docs_record() -> None:
    _, stats = _read("docker-json-file.log", nginx_access, "docker-json")
    assert _counts(stats) == (1, 0, 1, 0)
    assert [(r.line, r.reason, r.excerpt) for r in stats.rejects] == [
        (1, "does not match combined/main", "Log line is here")]


def test_kubelet_cri_records() -> None:
    _, stats = _read("cri-0.log", nginx_access, "cri")
    # The P record's text is a line of its own at the end of the file; stderr is the
    # error log's.
    assert _counts(stats) == (2, 0, 1, 1)
    assert stats.skip_reasons == {wrap.MIXED_REASON: 1}
    assert [(r.line, r.excerpt) for r in stats.rejects] == [(1, "log content 1")]


def test_systemd_export_entries_are_other_programs() -> None:
    _, stats = _read("journal.export", nginx_access, "journald-export")
    assert _counts(stats) == (3, 0, 0, 3)
    assert stats.skip_reasons == {"journald entry of another program": 3}


@pytest.mark.parametrize(("name", "n"), [("cloudwatch-filter-log-events.json", 2),
                                         ("cloudwatch-get-log-events.json", 3)])
def test_aws_cli_examples(name: str, n: int) -> None:
    _, stats = _read(name, nginx_access, "cloudwatch-logs")
    assert _counts(stats) == (n, 0, n, 0)
    assert {r.reason for r in stats.rejects} == {"does not match combined/main"}


def test_filebeat_access_documents_rebuild_the_lines() -> None:
    data = timeline.read([str(DATA / "filebeat-nginx-access.json")])
    (rep,) = data.sources
    assert (rep.format, rep.wrapper, rep.variant) == ("nginx_access", "elasticsearch",
                                                      "combined")
    assert (rep.lines, rep.parsed, rep.rejected, rep.skipped) == (7, 7, 0, 0)
    rows = data.load_rows(0, 2e9).sort_values("line")
    assert rows["line"].tolist() == list(range(1, 8))
    assert rows["status"].tolist() == [200, 404, 200, 200, 200, 404, 400]
    assert rows["path"].tolist() == ["/ocelot", "/stringpatch", "/ocelot", "/ocelot",
                                     "/assets/xxxx?q=100", "/test.html", ""]
    assert rows["client"].tolist()[4] == "199.96.1.1"
    assert rows["bytes_sent"].tolist()[4] == 25507
    # 2016-12-07T10:05:07.000Z, Filebeat's UTC time of the line's 11:05:07 +0100.
    assert rows["ts"].tolist()[0] == 1481105107.0
    assert rows["user_agent"].tolist()[-1] == ""


def test_filebeat_error_documents_rebuild_the_entries() -> None:
    data = timeline.read([str(DATA / "filebeat-nginx-error.json")])
    (rep,) = data.sources
    assert (rep.format, rep.wrapper) == ("nginx_error", "elasticsearch")
    # Four documents; the FastCGI message's two further lines count as lines of their own.
    assert (rep.lines, rep.parsed, rep.rejected, rep.skipped) == (6, 6, 0, 0)
    assert rep.tz == "+0000"  # the lines are built in UTC from @timestamp
    ev = data.events.sort_values("line")
    assert ev["line"].tolist() == [1, 2, 3, 4]
    # 2016-10-25T14:49:34.000-02:00
    assert ev["ts"].tolist()[0] == 1477414174.0
    assert ev["kind"].tolist()[0] == "file_not_found"
    assert "PHP message" in ev["sample"].tolist()[2]
    assert ev["attrs"].tolist()[0]["conn"] == "1"


def test_samples_are_the_sources_documents() -> None:
    # The JSON samples hold the sources' documents: valid JSON, the counts above.
    for name, n in (("filebeat-nginx-access.json", 7), ("filebeat-nginx-error.json", 4)):
        assert len(json.loads((DATA / name).read_text())) == n
    _, stats = _read("filebeat-nginx-error.json", nginx_error, "elasticsearch")
    assert _counts(stats) == (6, 6, 0, 0)


def test_loki_docs_query_range_answer() -> None:
    # The HTTP API page's query_range answer: one stream, two entries ("foo", "bar"), neither
    # an Nginx line, so each is a rejected line (numbered in the answer's order).
    _, stats = _read("loki-query-range.json", nginx_access, "loki-api")
    assert _counts(stats) == (2, 0, 2, 0)
    assert [(r.line, r.reason, r.excerpt) for r in stats.rejects] == [
        (1, "does not match combined/main", "foo"), (2, "does not match combined/main", "bar")]


def test_gcp_load_balancer_entries_without_a_status() -> None:
    # Two load balancer entries of TLS handshakes that failed (mTLS): httpRequest holds only
    # remoteIp and latency (no status, no request), jsonPayload no message, so neither entry
    # has an access line to build or a text to read: both are rejected with the reason.
    _, stats = _read("gcp-lb-mtls-entries.json", nginx_access, "gcp-logging")
    assert _counts(stats) == (2, 0, 2, 0)
    assert [r.line for r in stats.rejects] == [1, 2]
    assert {r.reason for r in stats.rejects} == {
        "Cloud Logging httpRequest without a status (no response was sent, e.g. a TLS "
        "handshake that failed)"}
    assert len(json.loads((DATA / "gcp-lb-mtls-entries.json").read_text())) == 2
