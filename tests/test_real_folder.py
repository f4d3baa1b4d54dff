"""A log folder as copied from real hosts (rotated .gz files, a custom log_format defined in
nginx.conf, error logs without offsets) gives the same incident as the plain files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from timeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"

CUSTOM = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
          '"$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time '
          'uct="$upstream_connect_time" ua="$upstream_addr"')

NGINX_CONF = f"""
user www-data;
events {{ worker_connections 768; }}
http {{
    log_format upstreaminfo '{CUSTOM}';
    access_log /var/log/nginx/access.log upstreaminfo;
    error_log /var/log/nginx/error.log notice;
    include /etc/nginx/sites-enabled/*;
}}
"""


def _incident(out: Path) -> dict[str, object]:
    doc = json.loads((out / "timeline.json").read_text())
    assert len(doc["incidents"]) == 1
    inc: dict[str, object] = doc["incidents"][0]
    return inc


def test_rotated_gz_custom_format_from_nginx_conf(tmp_path: Path) -> None:
    copy = tmp_path / "outage"
    shutil.copytree(SEED, copy)
    lines = (copy / "lb-1" / "access.log").read_bytes().splitlines(keepends=True)
    custom = [ln.rstrip(b"\n") + f' rt=0.0{i % 90:02d} uct="0.001" ua="10.0.1.1{i % 4 + 1}:80"\n'
              .encode() for i, ln in enumerate(lines)]
    third = len(custom) // 3
    (copy / "lb-1" / "access.log").unlink()
    with gzip.open(copy / "lb-1" / "access.log.2.gz", "wb") as fh:
        fh.writelines(custom[:third])
    (copy / "lb-1" / "access.log.1").write_bytes(b"".join(custom[third: 2 * third]))
    (copy / "lb-1" / "access.log").write_bytes(b"".join(custom[2 * third:]))
    conf = tmp_path / "etc-nginx"
    (conf / "sites-enabled").mkdir(parents=True)
    (conf / "nginx.conf").write_text(NGINX_CONF)
    (conf / "sites-enabled" / "shop").write_text("server { listen 80; server_name shop; }\n")

    runner = CliRunner()
    plain = runner.invoke(app, ["build", str(SEED), "-o", str(tmp_path / "plain"), "-q"])
    assert plain.exit_code == 0, plain.output
    real = runner.invoke(app, ["build", str(copy), "-o", str(tmp_path / "real"), "-q",
                               "--nginx-conf", str(conf / "nginx.conf")])
    assert real.exit_code == 0, real.output
    a, b = _incident(tmp_path / "plain"), _incident(tmp_path / "real")
    for key in ("start", "end", "duration_s"):
        assert a[key] == b[key], key
    # The custom format also logs $request_time and $upstream_addr: the same impact, plus
    # the latency and per-upstream breakdown the combined logs cannot give.
    extra = {"by_upstream", "upstreams_seen", "latency"}
    ia, ib = a["impact"], b["impact"]
    assert isinstance(ia, dict) and isinstance(ib, dict)
    assert {k: v for k, v in ia.items() if k not in extra} == {
        k: v for k, v in ib.items() if k not in extra}
    assert ia["upstreams_seen"] == 0 and ib["upstreams_seen"] == 4
    ups = {u["name"]: u for u in ib["by_upstream"]}
    assert sorted(ups) == [f"10.0.1.1{i}:80" for i in range(1, 5)]
    assert sum(u["requests"] for u in ups.values()) == ib["requests_total"]
    assert ib["latency"]["request_time"]["window"]["p95_s"] <= 0.09
    assert a["causes"][0]["kind"] == b["causes"][0]["kind"] == "config_change"
    sources = json.loads((tmp_path / "real" / "timeline.json").read_text())["sources"]
    lb = [s for s in sources if s["host"] == "lb-1" and s["format"] == "nginx_access"]
    assert len(lb) == 3 and sum(s["parsed"] for s in lb) == len(lines)
    assert all(s["rejected"] == 0 for s in lb)
    assert any("upstreaminfo" in n for s in lb for n in s["notes"])


def test_error_lines_mixed_into_an_access_log_become_events(tmp_path: Path) -> None:
    import timeline

    log = tmp_path / "web-1" / "access.log"
    log.parent.mkdir()
    log.write_text(
        '203.0.113.7 - - [20/Mar/2023:13:30:01 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8"\n'
        "2023/03/20 13:30:02 [error] 812#812: *9 connect() failed (111: Connection refused) "
        'while connecting to upstream, client: 203.0.113.8, server: shop, request: "GET /a '
        'HTTP/1.1", upstream: "http://10.0.1.13:80/a", host: "shop"\n'
        '203.0.113.8 - - [20/Mar/2023:13:30:02 +0100] "GET /a HTTP/1.1" 502 157 "-" "curl/8"\n')
    data = timeline.read([str(log)])
    src = data.sources[0]
    assert (src.lines, src.parsed, src.skipped) == (3, 2, 1)
    ev = data.events
    assert list(ev["kind"]) == ["upstream_refused"]
    # Local time 13:30:02 at the access log's +0100 is 12:30:02 UTC.
    assert float(ev["ts"].iloc[0]) == 1679315402.0
    assert ev["line"].iloc[0] == 2 and ev["parser"].iloc[0] == "nginx_error"


def test_host_from_the_line(tmp_path: Path) -> None:
    import timeline

    log = tmp_path / "edge" / "access.log"
    log.parent.mkdir()
    lines = []
    for i in range(600):
        site = "shop.example.com" if i % 2 else "blog.example.com"
        status = 502 if site == "shop.example.com" and 200 <= i < 400 else 200
        ts = f"20/Mar/2023:12:{i // 60:02d}:{i % 60:02d} +0000"
        lines.append(f'{site} 203.0.113.{i % 50} - - [{ts}] "GET / HTTP/1.1" {status} 9 '
                     f'"-" "curl/8"\n')
    log.write_text("".join(lines))
    data = timeline.read([str(log)], timeline.ReadOptions(host_from_line=True))
    hosts = sorted(set(data.agg.counts["host"]))
    assert hosts == ["blog.example.com", "shop.example.com"]
    plain = timeline.read([str(log)])
    assert sorted(set(plain.agg.counts["host"])) == ["edge"]
    assert int(data.agg.counts["n"].sum()) == int(plain.agg.counts["n"].sum()) == 600


def test_syslog_error_log_takes_its_year_from_the_access_logs(tmp_path: Path) -> None:
    import timeline

    host = tmp_path / "web-3"
    host.mkdir()
    (host / "access.log").write_text(
        '203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8"\n')
    # A relay that dropped Nginx's own timestamp: only the syslog header's time, no year.
    (host / "error.log").write_text(
        "<131>Mar 20 12:30:02 web-3 nginx: [error] 812#812: *9 connect() failed (111: "
        "Connection refused) while connecting to upstream, client: 203.0.113.8, server: "
        'shop, request: "GET / HTTP/1.1", upstream: "http://10.0.1.13:80/", host: "shop"\n')
    data = timeline.read([str(tmp_path)])
    err = [s for s in data.sources if s.format == "nginx_error"][0]
    assert any("inferred from the access logs" in n for n in err.notes)
    assert float(data.events["ts"].iloc[0]) == 1679315402.0  # 2023-03-20 12:30:02 UTC
