#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: canary analysis of switched hosts against the hosts not yet switched, from their own /metrics."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_analysis
short_description: Compare switched hosts' /metrics with those not yet switched over a window; fail on degradation
description:
  - Scrapes the Prometheus C(/metrics) of the I(canary) hosts (switched to the new release) and of the I(baseline)
    hosts (still serving the release before) at the same moments, every I(interval) seconds for I(window) seconds,
    and compares what each side's counters gained over that time, as Argo Rollouts' analysis does.
  - Signals are the 5xx ratio (C(ai_cs_http_requests_total) by C(code), every route but I(exclude_routes)), the
    webhook reject ratio (C(ai_cs_webhook_requests_total{result="rejected"}) over the webhook route's requests) and
    readiness (C(ai_cs_ready) at every scrape, every scrape answered, no restart).
  - A ratio degrades when the canary's exceeds the baseline's by more than its allowed increase with I(confidence)
    (the lower end of the difference's interval must exceed it, Newcombe's hybrid score interval from each side's
    Wilson interval, so one error in a few requests is not a rise, and neither is a baseline that drew few errors by
    chance), judged only once the canary served I(min_requests) of that ratio's requests. It fails as soon as
    a signal degrades (the canary serves users meanwhile), naming the signal and the figures on both sides; a look
    before the window's end needs 99.9% confidence, so that looking often does not multiply false alarms.
  - Without traffic on any host after the first interval there is nothing to compare; the analysis ends at once,
    inconclusive. A window that ends with too few requests on the canary is inconclusive too.
  - A counter that goes down is a restarted process (its increase counts from 0, as in Prometheus); on a canary it
    is a readiness failure. A baseline host that does not answer is left out of the baseline, with a warning.
  - Never changes anything.
version_added: "1.1.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  canary:
    description: The switched hosts (names or addresses, put into I(url)).
    type: list
    elements: str
    required: true
  baseline:
    description: Hosts still serving the release before. Empty compares the canary with 0.
    type: list
    elements: str
    default: []
  url:
    description: A host's metrics URL, C({host}) standing for each host of I(canary) and I(baseline).
    type: str
    default: "http://{host}:8080/metrics"
  window:
    description: Seconds to watch.
    type: float
    default: 60
  interval:
    description: Seconds between scrapes.
    type: float
    default: 5
  min_requests:
    description: Requests a ratio's denominator must reach on the canary before that ratio is judged.
    type: int
    default: 50
  max_5xx_increase:
    description: How far the canary's 5xx ratio may exceed the baseline's (0.01 is one percentage point).
    type: float
    default: 0.01
  max_reject_increase:
    description: How far the canary's webhook reject ratio may exceed the baseline's.
    type: float
    default: 0.05
  confidence:
    description: How sure a ratio's rise must be at the window's end (one-sided, for example 0.95).
    type: float
    default: 0.95
  exclude_routes:
    description: Routes that are not traffic (scrapes, load balancer checks, liveness probes).
    type: list
    elements: str
    default: [/metrics, /ready, /live]
  inconclusive:
    description: What an analysis without enough traffic does.
    type: str
    choices: [pass, fail]
    default: pass
  request_timeout:
    description: Seconds to wait for one scrape.
    type: float
    default: 5
  validate_certs:
    description: Verify TLS certificates for https URLs.
    type: bool
    default: true
notes:
  - Supports check mode (it only reads).
  - Run it where every host's service port is reachable, for example on a load balancer.
"""

EXAMPLES = r"""
- name: Watch the canary for a minute against the hosts not yet switched
  canary_analysis:
    canary: [app1]
    baseline: [app2, app3]
    url: "http://{host}:8080/metrics"
    window: 60
    interval: 5
  delegate_to: lb1
"""

RETURN = r"""
verdict:
  description: C(pass), C(degraded) or C(inconclusive).
  returned: always
  type: str
signals:
  description: Per ratio signal, the canary's and the baseline's figures over the window and the judgement.
  returned: always
  type: list
  elements: dict
  sample:
    - {signal: 5xx, canary: {count: 12, of: 200, ratio: 0.06, at_least: 0.0378},
       baseline: {count: 0, of: 190, ratio: 0.0}, rise_at_least: 0.0337, allowed_increase: 0.01, judged: true,
       degraded: true, text: "5xx ratio 6.0% on the canary (12 of 200) vs 0.0% on the hosts not yet switched (0 of
       190): higher by at least 3.4 points at 95% confidence; allowed: 1.0 point"}
readiness:
  description: Canary hosts that failed readiness, with why.
  returned: always
  type: list
  elements: str
seconds:
  description: How long the analysis watched.
  returned: always
  type: float
scrapes:
  description: Scrape rounds taken.
  returned: always
  type: int
baseline_left_out:
  description: Baseline hosts left out because their /metrics did not answer, with the error.
  returned: always
  type: dict
"""

import time
from typing import Any

from ansible.module_utils.ai_cs_canary import Counts, Limits, Watch, counts, judge, parse, readiness
from ansible.module_utils.ai_cs_http import exchange
from ansible.module_utils.basic import AnsibleModule


def scrape(url: str, timeout: float, validate_certs: bool) -> tuple[dict | None, str | None]:
    answer = exchange(url, timeout=timeout, validate_certs=validate_certs)
    if answer.status != 200 or not isinstance(answer.body, str):
        return None, answer.error or f"HTTP {answer.status}"
    return parse(answer.body), None


def refused(p: dict[str, Any]) -> str | None:
    """What is wrong with the arguments, before any scrape."""
    both = sorted(set(p["canary"]) & set(p["baseline"]))
    checks = [
        (not p["canary"], "canary is empty: name at least one switched host"),
        ("{host}" not in p["url"], f"url {p['url']} has no {{host}} for each host's name"),
        (bool(both), f"hosts both canary and baseline: {both}"),
        (
            p["window"] <= 0 or p["interval"] <= 0 or p["interval"] > p["window"],
            f"window ({p['window']:g}) and interval ({p['interval']:g}) must be > 0, interval <= window",
        ),
        (p["min_requests"] < 1, "min_requests must be at least 1"),
        (
            not 0.5 <= p["confidence"] < 1,
            f"confidence {p['confidence']:g} must be at least 0.5 and below 1 (for example 0.95)",
        ),
    ]
    return next((message for bad, message in checks if bad), None)


def analyse(p: dict[str, Any]) -> dict[str, Any]:
    """Scrape every host each interval until a signal degrades, the window ends, or no host has traffic."""
    limits = Limits(p["min_requests"], p["max_5xx_increase"], p["max_reject_increase"], p["confidence"])
    exclude = tuple(p["exclude_routes"])
    watches = {("canary", n): Watch() for n in p["canary"]} | {("baseline", n): Watch() for n in p["baseline"]}

    def sides() -> tuple[Counts, Counts | None, dict[str, str]]:
        canary, baseline, left_out = Counts(), None, {}
        for (side, name), w in watches.items():
            if side == "canary":
                canary += counts(w.increase, exclude)
            elif w.failed_scrapes:
                left_out[name] = w.last_error or "no answer"
            elif w.scrapes >= 2:
                baseline = (baseline or Counts()) + counts(w.increase, exclude)
        return canary, baseline, left_out

    started = time.monotonic()
    rounds = 0
    while True:
        rounds += 1
        for (_side, name), watch in watches.items():
            watch.add(*scrape(p["url"].replace("{host}", name), p["request_timeout"], p["validate_certs"]))
        canary, baseline, left_out = sides()
        problems = [r for (side, n), w in watches.items() if side == "canary" and (r := readiness(n, w))]
        quiet = rounds >= 2 and canary.requests == 0 and (baseline is None or baseline.requests == 0)
        final = quiet or time.monotonic() - started + p["interval"] > p["window"]
        signals = judge(canary, baseline, limits, final=final)
        if problems or any(s["degraded"] for s in signals):
            verdict = "degraded"
            break
        if final:
            verdict = "pass" if all(s["judged"] for s in signals) else "inconclusive"
            break
        time.sleep(p["interval"])
    return {
        "changed": False,
        "verdict": verdict,
        "signals": signals,
        "readiness": problems,
        "seconds": round(time.monotonic() - started, 1),
        "scrapes": rounds,
        "baseline_left_out": left_out,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "canary": {"type": "list", "elements": "str", "required": True},
            "baseline": {"type": "list", "elements": "str", "default": []},
            "url": {"type": "str", "default": "http://{host}:8080/metrics"},
            "window": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 5},
            "min_requests": {"type": "int", "default": 50},
            "max_5xx_increase": {"type": "float", "default": 0.01},
            "max_reject_increase": {"type": "float", "default": 0.05},
            "confidence": {"type": "float", "default": 0.95},
            "exclude_routes": {"type": "list", "elements": "str", "default": ["/metrics", "/ready", "/live"]},
            "inconclusive": {"type": "str", "choices": ["pass", "fail"], "default": "pass"},
            "request_timeout": {"type": "float", "default": 5},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    problem = refused(p)
    if problem:
        module.fail_json(msg=problem)
    result = analyse(p)
    for name, error in result["baseline_left_out"].items():
        module.warn(f"baseline host {name} left out: its /metrics did not answer ({error})")
    figures = "; ".join(s["text"] for s in result["signals"])
    if result["verdict"] == "degraded":
        why = result["readiness"] + [s["text"] for s in result["signals"] if s["degraded"]]
        rest = [s["text"] for s in result["signals"] if not s["degraded"]]
        module.fail_json(
            msg=f"canary degraded after {result['seconds']:g}s of {p['window']:g}s: {'; '.join(why)}"
            + (f" (also: {'; '.join(rest)})" if rest else ""),
            **result,
        )
    if result["verdict"] == "inconclusive":
        note = (
            f"canary analysis inconclusive after {result['seconds']:g}s: too little traffic to judge "
            f"(needs {p['min_requests']} requests per ratio on the canary): {figures}"
        )
        if p["inconclusive"] == "fail":
            module.fail_json(msg=note, **result)
        module.warn(note)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
