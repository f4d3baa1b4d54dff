"""End-to-end scenarios of issue 16 on real Nginx (under libfaketime): the "what changed"
table finds one route failing on one upstream, and a backend whose clock runs 5 s ahead
of its proxy's is measured and corrected before the timeline is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import TIMED_FORMAT, Harness, Nginx, Scenario, assert_self_check, parse_iso
from tests.e2e.test_outage_classes import FAULT, POST, PRE, _web_to_app
from tests.e2e.test_scenarios import (
    check,
    edge_server,
    proxy_location,
    run_phases,
    upstream_block,
)


def _report(result: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(result["dir"]) / "report" / "timeline.json")
                                     .read_text())
    return doc


@pytest.mark.e2e
def test_backend_clock_ahead_is_corrected(harness: Harness) -> None:
    """lb-1 over web-1 and web-2 as in ``lb_two_web_hosts_one_app_dies``, web-2's clock
    5 s ahead of everyone's. The tool measures web-2's offset from the requests both hosts
    logged (X-Forwarded-For, request line), corrects it, and web-2's own first error
    (``connect() failed`` to app-2) lands at the fault's start instead of 5 s after."""
    h = harness
    scn = Scenario("backend_clock_ahead", "upstream_partial", pre_s=PRE, fault_s=FAULT,
                   post_s=POST, culprit_host="web-2")
    app1, app2 = h.app("app-1"), h.app("app-2")
    app1.start()
    app2.start()
    web1, web2 = _web_to_app(h, "web-1", app1), _web_to_app(h, "web-2", app2)
    web2.clock_ahead_s = 5.0
    lb = _lb(h, [web1, web2])
    h.begin(scn)
    for n in (web1, web2, lb):
        n.start()
    result = run_phases(h, scn, lb, app2.kill, app2.start)
    check(result)
    doc = _report(result)
    skew = {k["host"]: k for k in doc["clock_skew"]}
    # Each Nginx's clock starts a few real ms after its FAKETIME was set, x60: web-2 runs
    # 5 s +- ~1 s ahead of lb-1. The truth is what the clocks read (their own $msec in
    # every response), not what was asked of them.
    truth = json.loads((Path(result["dir"]) / "truth.json").read_text())
    real = truth["fake_clock"]["host_skew_s"]
    ahead = {h: real[h] - real["lb-1"] for h in ("web-1", "web-2")}
    assert ahead["web-2"] > 2.0, ahead  # clearly ahead: the tool must correct it
    assert abs(skew["web-2"]["offset_s"] - ahead["web-2"]) <= 0.5, (skew, ahead)
    assert skew["web-2"]["corrected"] and skew["web-2"]["reference"] == "lb-1"
    assert abs(skew["web-1"]["offset_s"] - ahead["web-1"]) <= 0.5, (skew, ahead)
    assert not skew["web-1"]["corrected"] or abs(ahead["web-1"]) > 1.0, (skew, ahead)
    inc = doc["incidents"][0]
    fault_start = parse_iso(result["truth"]["start"])
    web2_errors = [e for e in inc["timeline"] if e["host"] == "web-2"
                   and e["kind"] == "upstream_refused"]
    assert web2_errors, [e["text"] for e in inc["timeline"]]
    first = parse_iso(web2_errors[0]["ts"])
    start = parse_iso(inc["start"])
    # Corrected, web-2's first refused connection and lb-1's first failing request (the
    # same request, seen in two logs) are within the logs' seconds of each other; as
    # logged it would be 5 s later. Both follow the fault's start.
    assert abs(first - start) <= 1.5, (first, start)
    assert first >= fault_start - 1.0, (first, fault_start)


def _lb(h: Harness, backends: list[Nginx]) -> Nginx:
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_web", [b.address for b in backends])
        + edge_server(h, lb, proxy_location("shop_web"), static=False),
        edge=True,
        log_format=TIMED_FORMAT,
    )
    return lb


@pytest.mark.e2e
def test_one_route_fails_on_one_upstream(harness: Harness) -> None:
    """lb-1 round-robins over app-a and app-b; app-b starts answering 500 to ``/api/cart``
    only. The route fails for half its requests (app-a serves it), app-b fails for its
    cart requests only: neither explains the failures alone, the pair does, and the
    "what changed" table puts ``route+upstream`` = ``/api/cart + app-b`` first."""
    h = harness
    scn = Scenario("route_on_one_upstream_fails", "unknown", pre_s=PRE, fault_s=FAULT,
                   post_s=POST)
    a, b = h.app("app-a"), h.app("app-b")
    a.start()
    b.start()
    lb = h.nginx("lb-1")
    lb.configure(
        upstream_block("shop_app", [a.address, b.address])
        + edge_server(h, lb, proxy_location("shop_app")),
        edge=True,
        log_format=TIMED_FORMAT,
    )
    h.begin(scn)
    lb.start()
    result = run_phases(h, scn, lb, lambda: b.set("fail", "/api/cart", "1", "500"), b.set)
    assert_self_check(result)
    doc = _report(result)
    assert len(doc["incidents"]) == 1, result["why"]
    changes = doc["incidents"][0]["changes"]
    top = changes[0]
    assert (top["dimension"], top["value"]) == ("route+upstream", f"/api/cart + {b.address}"), (
        changes[:3])
    assert top["failure_rate"] == 1.0 and top["q_value"] < 0.05
    parts = {(c["dimension"], c["value"]): c for c in changes}
    # Each part alone: a lower failure rate than the pair's.
    for key in (("route", "/api/cart"), ("upstream", b.address)):
        if key in parts:
            assert parts[key]["failure_rate"] < top["failure_rate"] / 1.5
