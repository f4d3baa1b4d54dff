"""Cross-host links: a proxy's errors toward an upstream address tied to the backend host
(by nginx config, by name, by timing, or not at all) and what that host's own logs say."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import timeline
from tests.conftest import T0, event_row, make_dataset
from timeline import build
from timeline.ingest import Dataset
from timeline.links import host_part, hosts_named, split_upstream_addr, upstream_servers
from timeline.model import Incident
from timeline.nginxconf import read_nginx_conf
from timeline.report import to_json, to_markdown

Traffic = Callable[..., list[dict[str, Any]]]

GAP = (T0 + 3600, T0 + 5400)
REFUSED = "connect() failed (<n>: Connection refused) while connecting to upstream"


def _in_gap(ts: float, user: str) -> bool:
    return GAP[0] <= ts < GAP[1]


def scenario(traffic: Traffic, upstream: str, *, silent: tuple[str, ...] = ("web-3",),
             failing: tuple[str, ...] = (), kind: str = "upstream_refused",
             message: str = REFUSED, backend_events: list[dict[str, Any]] | None = None,
             hosts: tuple[str, ...] = ("web-1", "web-2", "web-3")) -> Dataset:
    """lb-1 in front of backends; during GAP a third of lb-1's requests fail and lb-1's
    error log names ``upstream`` every 10 s; the ``silent`` backends log nothing then and
    the ``failing`` ones answer 502."""
    users = {f"198.51.0.{i}" for i in range(1, 80)}

    def fail(ts: float, user: str) -> bool:
        return _in_gap(ts, user) and user in users

    rows = traffic(fail=fail)
    for seed, host in enumerate(hosts, start=1):
        rows += traffic(host=host, xff=True, seed=seed, per_min=10,
                        drop=_in_gap if host in silent else None,
                        fail=_in_gap if host in failing else None)
    events = [event_row(GAP[0] + 2 + i * 10, kind, "lb-1", message,
                        attrs={"upstream": upstream}, line=i + 1,
                        source_file="lb-1/error.log")
              for i in range(int((GAP[1] - GAP[0] - 10) // 10))]
    return make_dataset(rows, events + (backend_events or []))


def only_incident(ds: Dataset) -> Incident:
    incs = build(ds).incidents
    assert len(incs) == 1
    return incs[0]


def linked_entry(inc: Incident) -> Any:
    entries = [e for e in inc.timeline if e.links]
    assert len(entries) == 1, [e.text for e in inc.timeline]
    return entries[0]


def test_address_helpers() -> None:
    assert host_part("10.0.0.3:80") == "10.0.0.3"
    assert host_part("[2001:db8::3]:8080") == "2001:db8::3"
    assert host_part("2001:db8::3") == "2001:db8::3"
    assert host_part("backend") == "backend"
    assert split_upstream_addr("10.0.0.3:80, 10.0.0.4:80 : backend") == [
        "10.0.0.3:80", "10.0.0.4:80", "backend"]
    assert split_upstream_addr("-") == []
    hosts = ["lb-1", "web-3", "10.0.0.9"]
    assert hosts_named("WEB-3", hosts) == ["web-3"]
    assert hosts_named("web-3.prod.example.com.", hosts) == ["web-3"]
    assert hosts_named("10.0.0.9", hosts) == ["10.0.0.9"]
    # An IP address never matches by "first label".
    assert hosts_named("10.0.0.3", ["10"]) == []
    assert hosts_named("web-3", ["web-3.eu", "web-3.us"]) == ["web-3.eu", "web-3.us"]


def test_linked_by_host_name_with_the_backends_reload(traffic: Traffic) -> None:
    reload = event_row(GAP[0] - 1, "reload", "web-3", "signal 1 (SIGHUP) received",
                       severity="info", line=42, source_file="web-3/error.log")
    ds = scenario(traffic, "http://Web-3.prod.example:8080/api/cart",
                  backend_events=[reload])
    inc = only_incident(ds)
    entry = linked_entry(inc)
    assert entry.kind == "upstream_refused" and entry.host == "lb-1"
    (link,) = entry.links
    assert link.address == "Web-3.prod.example:8080"
    assert (link.host, link.how, link.proxy) == ("web-3", "host_name", "lb-1")
    assert link.source == "web-3/error.log:42"
    assert link.summary.startswith("Nginx reloaded its configuration at 11:59:59 UTC, "
                                      "then logged no requests until 12:30:")
    assert "inferred" not in link.text
    # The leading cause is web-3's reload, and its evidence names lb-1's errors toward it
    # and web-3's own line.
    cause = inc.causes[0]
    assert (cause.kind, cause.host) == ("config_change", "web-3")
    assert any("lb-1's refused connections to Web-3.prod.example:8080 (web-3, by its name)"
               in ev and "web-3/error.log:42" in ev for ev in cause.evidence)


def test_linked_by_nginx_conf_upstream_block(traffic: Traffic, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\n"
        "http {\n"
        "    upstream shop {\n"
        "        server web-3:80 max_fails=1;\n"
        "    }\n"
        "    upstream both {\n"
        "        server web-1:80;\n"
        "        server web-2:80;\n"
        "    }\n"
        "    server { listen 80; location / { proxy_pass http://shop; } }\n"
        "}\n"
        "stream { upstream db { server web-1:5432; } }\n")
    tree = read_nginx_conf(conf)
    assert [(s.group, s.address, s.where) for s in upstream_servers(tree)] == [
        ("shop", "web-3:80", "nginx.conf:4"), ("both", "web-1:80", "nginx.conf:7"),
        ("both", "web-2:80", "nginx.conf:8")]
    # "no live upstreams" names the group, not a peer: only the config ties it to web-3.
    ds = scenario(traffic, "http://shop/", kind="no_live_upstreams",
                  message="no live upstreams while connecting to upstream")
    ds.nginx_conf = tree
    (link,) = linked_entry(only_incident(ds)).links
    assert (link.address, link.host, link.how) == ("shop", "web-3", "nginx_conf")
    assert link.mapping_source == "nginx.conf:4"
    assert "every server of upstream shop is on web-3 (nginx.conf:4)" in link.text


def test_upstreams_in_a_site_linked_by_an_absolute_symlink(tmp_path: Path) -> None:
    """Debian's ``sites-enabled/shop -> /etc/nginx/sites-available/shop``, in a copy. The
    config walk maps the absolute target into the copy; the upstream search parsed the
    file again by its name, so the operating system followed the link to the analysing
    machine's /etc/nginx: the upstream block was lost (or another machine's was read)."""
    copy = tmp_path / "nginx"
    (copy / "sites-available").mkdir(parents=True)
    (copy / "sites-enabled").mkdir()
    (copy / "nginx.conf").write_text(
        "events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n")
    (copy / "sites-available" / "shop").write_text(
        "upstream shop {\n    server web-3:80;\n}\n"
        "server { listen 80; location / { proxy_pass http://shop; } }\n")
    os.symlink("/etc/nginx/sites-available/shop", copy / "sites-enabled" / "shop")
    tree = read_nginx_conf(copy / "nginx.conf")
    assert [(s.group, s.address, s.where) for s in upstream_servers(tree)] == [
        ("shop", "web-3:80", "sites-enabled/shop:2")]


def test_a_group_on_several_hosts_is_not_tied(traffic: Traffic, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n upstream both { server web-1:80; server web-3:80; }\n}\n")
    ds = scenario(traffic, "http://both/", kind="no_live_upstreams",
                  message="no live upstreams while connecting to upstream")
    ds.nginx_conf = read_nginx_conf(conf)
    (link,) = linked_entry(only_incident(ds)).links
    assert link.host is None and link.how is None
    assert link.text == ("both could not be tied to a host: upstream both (nginx.conf:3) "
                            "has servers on web-1, web-3, and the line does not say which "
                            "one failed")


def test_linked_by_timing_and_marked_inferred(traffic: Traffic) -> None:
    ds = scenario(traffic, "http://10.0.1.13:80/")
    inc = only_incident(ds)
    (link,) = linked_entry(inc).links
    assert (link.host, link.how) == ("web-3", "timing")
    assert "is web-3 (inferred from timing: web-3's access log went silent" in link.text
    assert "no other host's did" in link.why
    # No reload or error on web-3: its own logs show silence, and the line is its last
    # request before it.
    rows = ds.load_rows(GAP[0] - 600, GAP[0])
    last = rows[rows["host"].astype(str) == "web-3"].iloc[-1]
    assert link.summary.startswith("no lines at all: silent from ")
    assert link.source == f"access.log:{int(last['line'])}"
    assert any("(web-3, inferred from timing)" in ev for c in inc.causes for ev in c.evidence)


def test_linked_by_timing_to_a_failing_backend(traffic: Traffic) -> None:
    ds = scenario(traffic, "http://10.0.1.13:80/", silent=(), failing=("web-3",),
                  kind="upstream_closed",
                  message="upstream prematurely closed connection while reading response "
                          "header from upstream")
    (link,) = linked_entry(only_incident(ds)).links
    assert (link.host, link.how) == ("web-3", "timing")
    assert "web-3 started failing requests at" in link.why
    assert link.summary.startswith("no reload, restart or error; its access log goes on")
    assert "failed (the first at the line given)" in link.summary
    # The evidence is web-3's first failed request within a bin of lb-1's first error.
    rows = ds.load_rows(GAP[0] - 60, GAP[0] + 62)
    bad = rows[(rows["host"].astype(str) == "web-3") & (rows["status"] == 502)].iloc[0]
    assert link.source == f"access.log:{int(bad['line'])}"


def test_two_hosts_fit_the_timing_so_no_link(traffic: Traffic) -> None:
    ds = scenario(traffic, "http://10.0.1.13:80/", silent=("web-2", "web-3"))
    inc = only_incident(ds)
    (link,) = linked_entry(inc).links
    assert link.host is None and link.how is None and link.source is None
    assert link.text == ("10.0.1.13:80 could not be tied to a host: 2 hosts' logs changed "
                            "within a bin of the errors to it (web-2, web-3)")
    # Nothing tied: no cause evidence claims a backend's own lines.
    assert not any("own logs" in ev for c in inc.causes for ev in c.evidence)


def test_nothing_fits_so_no_link(traffic: Traffic) -> None:
    ds = scenario(traffic, "http://10.0.1.13:80/", silent=())
    (link,) = linked_entry(only_incident(ds)).links
    assert link.host is None
    assert "no input host's access log went silent or started failing" in link.why


def test_access_rows_upstream_addr_without_an_error_log(traffic: Traffic) -> None:
    users = {f"198.51.0.{i}" for i in range(1, 80)}
    rows = []
    for r in traffic():
        failed = _in_gap(r["ts"], r["client"]) and r["client"] in users
        r.update(status=502 if failed else r["status"],
                 upstream_addr="web-3:80" if failed else "web-1:80")
        rows.append(r)
    for seed, host in enumerate(("web-1", "web-3"), start=1):
        rows += traffic(host=host, xff=True, seed=seed, per_min=10,
                        drop=_in_gap if host == "web-3" else None)
    inc = only_incident(make_dataset(rows))
    entry = linked_entry(inc)
    first = min((r for r in rows if r["status"] == 502 and r["host"] == "lb-1"),
                key=lambda r: r["ts"])
    assert entry.kind == "upstream_failing"
    assert entry.ts == first["ts"] and entry.source == f"access.log:{first['line']}"
    assert entry.text.startswith("lb-1: first failed request through upstream web-3:80 (502)")
    (link,) = entry.links
    assert (link.host, link.how) == ("web-3", "host_name")
    assert [lk.address for lk in inc.upstream_links] == ["web-3:80"]


def test_link_is_escaped_in_markdown_and_carried_in_json(traffic: Traffic) -> None:
    ds = scenario(traffic, "http://evil*_[x](javascript:alert)`|:80/", silent=())
    a = build(ds)
    md = to_markdown(a)
    line = next(ln for ln in md.splitlines() if "could not be tied" in ln)
    assert line.startswith("  - evil\\*\\_\\[x\\](javascript:alert)\\`\\|:80 could not be tied")
    doc = json.loads(to_json(a))
    inc = doc["incidents"][0]
    (entry,) = [e for e in inc["timeline"] if e["links"]]
    assert entry["links"] == inc["upstream_links"]
    assert set(entry["links"][0]) == {"address", "proxy", "host", "how", "why",
                                      "mapping_source", "summary", "source", "text"}
    assert all(e["links"] == [] for e in inc["timeline"] if e is not entry)


@pytest.mark.slow
def test_seed_outage_links_lb1_errors_to_web3() -> None:
    root = Path(__file__).resolve().parent.parent
    ds = timeline.read([str(root / "sample_logs" / "seed-outage")])
    inc = build(ds).incidents[0]
    (link,) = inc.upstream_links
    assert link.address.startswith("127.0.0.1:")
    assert (link.proxy, link.host, link.how) == ("lb-1", "web-3", "timing")
    assert link.summary == ("Nginx reloaded its configuration at 12:30:00 UTC, then "
                               "logged no requests until 14:15:11 UTC")
    assert link.source.endswith("seed-outage/web-3/error.log:9")
    assert "inferred from timing" in link.text
    entry = linked_entry(inc)
    assert entry.host == "lb-1" and entry.kind == "upstream_refused"
    lead = inc.causes[0]
    assert (lead.kind, lead.host) == ("config_change", "web-3")
    assert any("lb-1's refused connections to 127.0.0.1:" in ev
               and "(web-3, inferred from timing) → web-3's own logs: Nginx reloaded its "
               "configuration at 12:30:00 UTC, then logged no requests" in ev
               for ev in lead.evidence)
