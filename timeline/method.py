"""The method appendix of a report: how this analysis found and measured its incidents,
with the parameters used (the longer reasoning is in docs/method.md)."""

from __future__ import annotations

from timeline.detect import (
    LATENCY_FACTOR,
    LATENCY_MIN_EXCESS_S,
    LATENCY_MIN_N,
    MAD_K,
    MERGE_GAP_BINS,
    MIN_BINS,
    MIN_FAILURES,
    MIN_RATIO_EXCESS,
    MIN_Z,
    ROLL_BINS,
    VANISH_P,
    VANISH_SHARE,
)
from timeline.model import AnalysisOptions
from timeline.report.escape import md, md_code

#: Latency is compared with the edge's requests in this many seconds before the start.
BASELINE_S = 3600


def describe_method(bin_s: int, edge_hosts: list[str], options: AnalysisOptions, *,
                    timed: bool, given: bool) -> list[str]:
    """The method's sentences, in the report's order.

    Args:
        bin_s: the bin width in seconds.
        edge_hosts: the hosts users talk to.
        options: the analysis options (user key, exclusions, SLO).
        timed: the access logs carry a latency.
        given: the window was given with ``--window``.
    """
    key = options.key
    method: list[str] = []
    if given:
        method.append("The window was given with --window; detection was not used.")
    if timed:
        method.append(
            "The access logs carry a latency ($request_time, else $upstream_response_time): "
            f"a bin is also anomalous when its p95 at the edge is over {LATENCY_FACTOR:g} "
            f"times the quiet bins' median p95 and {LATENCY_MIN_EXCESS_S:g} s above it, with "
            f"at least {LATENCY_MIN_N} timed requests (quantiles from 25%-wide buckets).")
    method += [
        f"Requests were counted in {bin_s // 60 or 1}-minute bins at the edge tier "
        f"({', '.join(md(h) for h in edge_hosts) or 'no access logs'}): the hosts whose "
        "requests do not carry "
        "X-Forwarded-For, i.e. the ones users talk to.",
        "A request failed when the user got an error or nothing: status 5xx, 000 or 444; "
        "a 4xx or 499 (the user gave up waiting) only where its status surged.",
        "A bin is anomalous when its failure ratio (alone, or summed over the "
        f"{ROLL_BINS} bins around it) exceeds the median of the quiet bins by {MAD_K:g} "
        f"scaled MADs and by {MIN_RATIO_EXCESS:.0%}, with at least {MIN_FAILURES} failures "
        f"and a binomial z-score of {MIN_Z:g}; or when a host serves under "
        f"{VANISH_SHARE:.0%} of its usual count for a stretch so long that its usual rate "
        f"makes it improbable (Poisson, widened by the observed burstiness, p < {VANISH_P:g}) "
        "while the other hosts keep serving. A backend's silence counts only when the edge "
        f"also failed. Anomalous bins merge across gaps of {MERGE_GAP_BINS} bins; windows "
        f"with fewer than {MIN_BINS} anomalous bins are ignored. See docs/method.md.",
        "The start is when the first failing request of a status that surged was sent (its "
        "logged time minus $request_time; a 504 logged without one waited the proxy timeout), "
        "the end the last such failure logged; background failures and strays make no edge. "
        "When nothing failed at the edge, a host's silence or an error-log burst gives them.",
        f"At the edge tier, users are {key.description} "
        f"({md_code('--user-key ' + key.spec)}); "
        "a user is affected when at least one of their requests in the window failed. "
        "Monitoring probes (known health-check user agents, or clients that only request "
        "health paths) are not users"
        + (", nor are the clients matched by `--exclude-client` (listed in the Impact "
           "section); their requests are left out of the request counts too"
           if options.exclude_client else "")
        + ". Failures of a status that did not surge in the window (the usual trickle of "
        "500s) are counted apart as background.",
        "Requests a silent edge host did not serve are estimated from its mean rate outside "
        "the window (an estimate, reported apart from the counted failures).",
        "Time to detect is the first related alert (firing inside the window or up to 15 "
        "minutes before it; always-on alerts such as Watchdog excluded) minus the start.",
        "Routes are request paths without the query string, with ids (numbers, UUIDs, hex "
        "ids of 8+ characters and long base64-like tokens, each with a digit in it) "
        "collapsed to :id; the top 10 routes by failed requests at the edge are listed. "
        "Upstreams are the addresses in $upstream_addr at every host; a request counts for "
        "each address it tried, and as failed when the user's response failed.",
        f"Latency p50/p95 is over the users' requests at the edge, failed ones included, in "
        f"the window and in the {BASELINE_S // 60} minutes before its start (the baseline), "
        "from $request_time and $upstream_response_time where the log format has them.",
    ]
    if options.slo is not None:
        method.append(
            f"Error budget: the target {options.slo:g}% allows (1 - target) of the requests at "
            "the edge to fail over the SLO period, taken here as the analysed span (the logs "
            "hold nothing longer); the incident consumed its failed requests' share of that "
            "budget. Burn rate = error ratio over a window / (1 - target), from the "
            "per-bin failures at the edge (5xx, 000, 444, probes excluded). The page "
            "condition is the Google SRE workbook's multiwindow rule: the 1 h and the 5 min "
            "burn rates both above 14.4 (and, slower, 6 h and 30 min above 6); see "
            "docs/method.md.")
    return method
