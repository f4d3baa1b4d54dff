#!/usr/bin/env python3
"""Record ``sample_logs/seed-outage/`` from a real Nginx run of the seed incident.

    /work/venv/bin/python sample_logs/record_seed.py            # record, check, install
    /work/venv/bin/python sample_logs/record_seed.py --no-install --workdir /tmp/x

Needs nginx (1.22) and libfaketime, like the end-to-end scenarios: it reuses their harness
(``tests/e2e/harness.py``): every Nginx runs under libfaketime at 60x, fake time starting
at 2023-03-20 11:50:00 UTC (Nginx starts), traffic from 12:00 to 14:45; the run takes
about 3 minutes of real time.

The story (see README.md next to this file):

* ``lb-1``: Nginx, ``hash $remote_addr`` over four web Nginx hosts with weights 6/6/3/5,
  ``max_fails=0``, ``proxy_next_upstream off``;
* ``web-1`` .. ``web-4``: Nginx whose ``nginx.conf`` includes ``sites-enabled/*``, where the
  only entry is a link to ``sites-available/shop`` (static files from disk, the rest proxied
  to the small Python shop app of the e2e tests);
* 400 users (own 127.x.y.z source addresses, browser UAs), 60 of which hash to web-3, plus
  a Blackbox probe on ``/healthz`` every 15 fake seconds;
* 12:30:00 the deploy removes web-3's ``sites-enabled/shop`` and reloads web-3: with no
  ``server`` left it listens on nothing, lb-1 gets ``connect() failed (111: Connection
  refused)`` and answers 502 to web-3's users; 14:15:00 the link is restored and web-3
  reloaded; traffic stops at 14:45.

Afterwards it checks the recording (the harness's self-check, every client address on the
web host the hash sends it to, web-3 silent during the outage), writes
``alertmanager/webhook.jsonl`` from the error rate lb-1 logged (``NginxHighErrorRate``),
copies the logs into ``seed-outage/``, runs ``incident-timeline`` on them and compares its
incident with the clients' truth. A real run is not byte-reproducible (timing, pids,
connection numbers, kernel version in the notices); the figures of a run are printed and
the ones of the committed recording are in README.md.
"""

from __future__ import annotations

import argparse
import binascii
import bisect
import json
import random
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.e2e import harness as H  # noqa: E402  (needs ROOT on sys.path)

OUT = HERE / "seed-outage"
SITE = H.SITE

#: (host, weight) in the order of the ``server`` lines of lb-1's ``upstream shop_backend``.
WEB_HOSTS = (("web-1", 6), ("web-2", 6), ("web-3", 3), ("web-4", 5))
BROKEN = "web-3"
TOTAL_WEIGHT = sum(w for _, w in WEB_HOSTS)
USERS = 400
#: Users that hash to web-3: exactly 15% of them.
USERS_ON_BROKEN = 60
#: Requests per real second (= per fake minute) from the users; plus 4/min from the probe.
RATE = 50.0
THREADS = 8
#: Nginx starts this long (fake seconds) before the traffic, i.e. at 11:50: its start-up
#: notices then lie outside the 30 minutes before the outage in which the tool flags
#: actions as possible triggers (the hosts had been up long before, in the story).
LEAD_S = 10 * 60
#: Phases in fake seconds: 12:00-12:30 normal, 12:30-14:15 outage, 14:15-14:45 after.
PRE_S, FAULT_S, POST_S = 30 * 60, 105 * 60, 30 * 60

# NginxHighErrorRate, as a Prometheus rule over lb-1's request counters, evaluated every
# EVAL_S with a fixed phase:  5xx / all over the last WINDOW_S > THRESHOLD  for: FOR_S,
# keep_firing_for: KEEP_S (Prometheus >= 2.42; keeps one noisy minute from flapping it).
EVAL_S, EVAL_PHASE_S = 15.0, 7.583
WINDOW_S, THRESHOLD, FOR_S, KEEP_S = 60.0, 0.05, 15.0, 60.0
ALERT_EXPR = (
    'sum(rate(nginx_http_requests_total{instance="lb-1:9113",status=~"5.."}[1m])) / '
    'sum(rate(nginx_http_requests_total{instance="lb-1:9113"}[1m])) > 0.05'
)


def hash_peer(addr: str) -> str:
    """The web host lb-1's ``hash $remote_addr;`` (not consistent) picks for ``addr``.

    ngx_http_upstream_get_hash_peer: ``((crc32(KEY) >> 16) & 0x7fff) % total_weight`` walked
    over the weights in config order; with ``max_fails=0`` the first pick is final.
    """
    w = ((binascii.crc32(addr.encode()) >> 16) & 0x7FFF) % TOTAL_WEIGHT
    for host, weight in WEB_HOSTS:
        if w < weight:
            return host
        w -= weight
    raise AssertionError("unreachable")


def pick_users() -> list[H.User]:
    """400 users at scattered 127.a.b.c addresses (a >= 1, so never 127.0.0.1 or the probe's
    127.0.50.50), each with a browser; the first draw with exactly 60 on web-3 is used."""
    for draw in range(1000):
        rng = random.Random(f"seed-outage-users-{draw}")
        addrs: list[str] = []
        seen: set[str] = set()
        while len(addrs) < USERS:
            a = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            if a not in seen:
                seen.add(a)
                addrs.append(a)
        if sum(hash_peer(a) == BROKEN for a in addrs) == USERS_ON_BROKEN:
            return [H.User(a, rng.choice(H.BROWSERS)) for a in addrs]
    raise AssertionError("no user draw with exactly 60 users on web-3")


def web_host(h: H.Harness, name: str, app: H.App) -> H.Nginx:
    """A web host: nginx.conf includes sites-enabled/*, where a link to sites-available/shop
    is the only entry (as in tests/e2e/test_scenarios.py)."""
    web = h.nginx(name)
    enabled = H.shop_site(web, SITE, h.docroot, app.address)
    web.configure(f"    include {enabled}/*;")
    return web


def lb_config(h: H.Harness, lb: H.Nginx, webs: list[H.Nginx]) -> str:
    """lb-1's http{} body: the hashed upstream with weights, the shop server, no retries."""
    weights = dict(WEB_HOSTS)
    servers = "\n".join(
        f"        server {w.address} weight={weights[w.host]} max_fails=0;  # {w.host}"
        for w in webs
    )
    return f"""
    upstream shop_backend {{
        hash $remote_addr;
{servers}
    }}

    server {{
        listen {lb.address};
        server_name {SITE};
        location / {{
            proxy_pass http://shop_backend;
            proxy_next_upstream off;
            proxy_connect_timeout 5s;
            proxy_read_timeout 20s;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}"""


# --------------------------------------------------------------------------------------
# The alert
# --------------------------------------------------------------------------------------


def alert_spans(lines: list[tuple[float, int]], t_lo: float, t_hi: float) -> list[list[float]]:
    """Firing spans (startsAt, endsAt) of NginxHighErrorRate over lb-1's (second, status)
    lines, simulated the way Prometheus evaluates the rule (see the constants above)."""
    times = sorted(t for t, _ in lines)
    bad = sorted(t for t, s in lines if s >= 500)

    def ratio(t: float) -> float:
        n = bisect.bisect_right(times, t) - bisect.bisect_right(times, t - WINDOW_S)
        k = bisect.bisect_right(bad, t) - bisect.bisect_right(bad, t - WINDOW_S)
        return k / n if n else 0.0

    spans: list[list[float]] = []
    pending_since: float | None = None
    firing = False
    last_true = 0.0
    t = t_lo - (t_lo % EVAL_S) + EVAL_PHASE_S
    while t <= t_hi:
        true = ratio(t) > THRESHOLD
        if true:
            last_true = t
            if pending_since is None:
                pending_since = t
            if not firing and t - pending_since >= FOR_S:
                firing = True
                spans.append([t, 0.0])
        elif firing and t - last_true > KEEP_S:
            firing = False
            pending_since = None
            spans[-1][1] = t
        elif not firing:
            pending_since = None
        t += EVAL_S
    if firing:
        spans[-1][1] = t
    return spans


def write_webhook(path: Path, spans: list[list[float]]) -> None:
    """Alertmanager webhook v4 lines: the Watchdog, then firing + resolved of each span."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [H.watchdog_notification()]
    labels = {
        "alertname": "NginxHighErrorRate",
        "instance": "lb-1:9113",
        "job": "nginx",
        "severity": "critical",
    }
    notes = {
        "summary": "More than 5% of the requests to lb-1 fail",
        "description": "5xx responses are above 5% of lb-1's requests over the last minute.",
    }
    expr = urllib.parse.quote_plus(ALERT_EXPR)
    for a, b in spans:
        for resolved in (False, True):
            text = H._notification(
                labels, notes, H.rfc3339nano(a), H.rfc3339nano(b), resolved
            )
            lines.append(text.replace("probe_success+%3D%3D+0", expr))
    path.write_text("".join(lines))


# --------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------


def record(work: Path) -> dict[str, Any]:
    """Run the story in ``work``; return the harness's result (truth, self-check)."""
    nginx_bin, lib = H.require_tools()
    h = H.Harness(work, nginx_bin, lib)
    try:
        scn = H.Scenario(
            "seed_outage_recording",
            "config_change",
            pre_s=LEAD_S + PRE_S,
            fault_s=FAULT_S,
            post_s=POST_S,
        )
        h.clock.fake0 = H.FAKE_START - LEAD_S  # fake 11:50:00 when h.begin() is called
        app = h.app("app")
        app.start()
        webs = [web_host(h, name, app) for name, _ in WEB_HOSTS]
        lb = h.nginx("lb-1")
        lb.configure(lb_config(h, lb, webs), edge=True)
        web3 = webs[[w.host for w in webs].index(BROKEN)]
        link = web3.prefix / "sites-enabled" / "shop"

        def remove_link() -> None:
            link.unlink()
            web3.reload(wait_listening=False)
            H.wait_for(lambda: not H.accepts(web3.port), "web-3 to stop listening", 3.0)

        def restore_link() -> None:
            link.symlink_to(web3.prefix / "sites-available" / "shop")
            web3.reload()

        users = pick_users()
        h.begin(scn)
        for n in (*webs, lb):
            n.start()
        h.at(LEAD_S)  # 12:00:00
        h.start_traffic(lb.port, users, RATE, THREADS, max_requests=40_000)
        h.start_probe(lb.port)
        h.at(LEAD_S + PRE_S)  # 12:30:00
        h.fault_begins()
        remove_link()
        h.at(LEAD_S + PRE_S + FAULT_S)  # 14:15:00
        restore_link()
        h.fault_ends()
        h.at(LEAD_S + PRE_S + FAULT_S + POST_S)  # 14:45:00
        result = h.finish(lb)  # stops everything, truth.json, self-check, runs the tool once
    finally:
        problems = h.shutdown()
        if problems:
            print("left over:", *problems, sep="\n  ", file=sys.stderr)
    H.assert_self_check(result)
    return result


def check_hashing(logs: Path, fault: tuple[float, float]) -> dict[str, Any]:
    """Every client (X-Forwarded-For) a web host logged is one the hash sends to it; web-3
    logged nothing during the outage."""
    out: dict[str, Any] = {}
    for host, _ in WEB_HOSTS:
        wrong: Counter[str] = Counter()
        n = 0
        in_fault = 0
        for ln in (logs / host / "access.log").read_text().splitlines():
            n += 1
            xff = ln.rsplit('"', 2)[-2]
            if xff != "-" and hash_peer(xff) != host:
                wrong[xff] += 1
            t = H._line_time(ln)
            if t is not None and fault[0] + 15 <= t <= fault[1] - 15:
                in_fault += 1
        assert not wrong, f"{host} logged clients the hash sends elsewhere: {dict(wrong)}"
        out[host] = {"lines": n, "lines_inside_outage": in_fault}
    assert out[BROKEN]["lines_inside_outage"] == 0, out
    return out


def install(logs: Path, dest: Path) -> None:
    """Replace ``dest`` by the recorded host logs and the alert file."""
    if dest.exists():
        shutil.rmtree(dest)
    for host in ["lb-1", *(h for h, _ in WEB_HOSTS)]:
        (dest / host).mkdir(parents=True)
        for name in ("access.log", "error.log"):
            shutil.copyfile(logs / host / name, dest / host / name)
    (dest / "alertmanager").mkdir()
    hook = Path("alertmanager") / "webhook.jsonl"
    shutil.copyfile(logs / hook, dest / hook)


def run_tool(folder: Path, out: Path) -> dict[str, Any]:
    """``incident-timeline build folder -o out``: its timeline.json."""
    subprocess.run(
        [sys.executable, "-m", "timeline", "build", str(folder), "-o", str(out), "--quiet"],
        cwd=ROOT,
        check=True,
    )
    data: dict[str, Any] = json.loads((out / "timeline.json").read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seed-outage-recording"),
                    help="scratch folder (emptied first); Nginx prefixes, logs, truth.json")
    ap.add_argument("--no-install", action="store_true",
                    help="leave sample_logs/seed-outage/ alone (record and check only)")
    args = ap.parse_args(argv)
    work: Path = args.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.time()
    result = record(work)
    logs = work / "logs"
    truth = json.loads((work / "truth.json").read_text())
    fault = (H.parse_iso(truth["fault_start"]), H.parse_iso(truth["fault_end"]))
    hosts = check_hashing(logs, fault)

    # The alert, from what lb-1 logged (the harness's probe-based file is not used).
    shutil.rmtree(logs / "alerts", ignore_errors=True)
    lines = H.access_statuses(logs / "lb-1" / "access.log")
    spans = alert_spans(lines, min(t for t, _ in lines), max(t for t, _ in lines) + 3 * 60)
    write_webhook(logs / "alertmanager" / "webhook.jsonl", spans)

    dest = OUT if not args.no_install else work / "seed-outage"
    install(logs, dest)
    tool = run_tool(dest, work / "report")
    cmp = H.compare(truth, tool)

    per_min = Counter(int(t // 60) * 60 for t, _ in lines)
    bad_min = Counter(int(t // 60) * 60 for t, s in lines if s >= 500)
    fault_mins = [m for m in per_min if fault[0] + 60 <= m and m + 60 <= fault[1]]
    ratios = sorted(bad_min[m] / per_min[m] for m in fault_mins)
    statuses = Counter(s for _, s in lines)
    sizes = {str(p.relative_to(dest)): p.stat().st_size for p in sorted(dest.rglob("*"))
             if p.is_file()}
    counts = {str(p.relative_to(dest)): len(p.read_bytes().splitlines())
              for p in sorted(dest.rglob("*")) if p.is_file()}
    report = {
        "real_seconds": round(time.time() - t0, 1),
        "truth": {k: truth[k] for k in ("fault_start", "fault_end", "users_pct",
                                         "requests_in_fault", "requests_failed_in_fault",
                                         "outcomes_in_fault", "requests_total", "users_total",
                                         "probe", "fake_clock")}
        | {"users_active": len(truth["users_active"]),
           "users_affected": len(truth["users_affected"])},
        "self_check": {k: result["self_check"][k] for k in ("equal", "clock_skew_s",
                                                            "log_lines", "client_no_response")},
        "probe_backend": hash_peer(H.PROBE_ADDR),
        "web_hosts": hosts,
        "lb_statuses": dict(sorted(statuses.items())),
        "lb_requests_per_min": round(len(lines) / (len(per_min) or 1), 1),
        "outage_minute_5xx_ratio_min_median_max": [
            round(ratios[0], 3), round(ratios[len(ratios) // 2], 3), round(ratios[-1], 3)
        ] if ratios else None,
        "alert_spans": [[H.iso(a), H.iso(b)] for a, b in spans],
        "tool": cmp["tool"],
        "tool_vs_truth": {"pass": cmp["pass"], "checks": cmp["checks"], "why": cmp["why"]},
        "files": {k: [counts[k], sizes[k]] for k in sizes},
        "total_bytes": sum(sizes.values()),
        "installed_to": str(dest),
    }
    print(json.dumps(report, indent=2))
    return 0 if cmp["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
