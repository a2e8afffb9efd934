"""A live /metrics against the metrics exposure spec (monitoring/metrics.yml), both ways, parsed by the ecosystem's
own parser: every family exposed is in the spec with its type, every label value is one the spec allows (bounded),
and every metric of the spec is exposed."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_webhook import signed_post

SPEC = yaml.safe_load((Path(__file__).parents[2] / "monitoring" / "metrics.yml").read_text())
# the exposition's series suffixes of each type (prometheus_client names families without them)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def allowed(spec: dict, label: str, value: str) -> bool:
    rule = spec["labels"][label]
    return value in rule if isinstance(rule, list) else re.fullmatch(rule["pattern"], value) is not None


@pytest.fixture
def exercised(service):
    """The service after one of each kind of call, so that every label the spec bounds has values to check."""
    for path in ("/live", "/ready", "/actuator/health", "/no/such/path/4711", "/metrics"):
        service.get(path)
    message = {"channel": "widget", "message_id": "spec-1", "open_id": "u", "content": "a human please"}
    assert signed_post(service, message)[0] == 200
    assert signed_post(service, message)[0] == 200  # duplicate
    assert signed_post(service, message, secret="not-the-secret")[0] == 403
    assert signed_post(service, message, ts=1)[0] == 403
    assert service.post_webhook("{}", None, None)[0] == 403
    _, text = service.get("/metrics")
    return text


def test_every_exposed_metric_is_in_the_spec_with_its_type_and_bounded_labels(exercised):
    families = {f.name: f for f in text_string_to_metric_families(exercised)}
    for family in families.values():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert name in SPEC["metrics"], f"{name} is exposed but not in monitoring/metrics.yml"
        spec = SPEC["metrics"][name]
        assert family.type == spec["type"], (name, family.type)
        for sample in family.samples:
            assert sample.name in {family.name + s for s in SUFFIXES[spec["type"]]}, sample.name
            for label, value in sample.labels.items():
                if label == "le" and spec["type"] == "histogram":
                    continue
                assert label in spec["labels"], f"{sample.name}: label {label} is not in the spec"
                assert allowed(spec, label, value), f"{sample.name}{{{label}={value!r}}}: not a value the spec allows"


def test_every_metric_of_the_spec_is_exposed_and_serves_a_coverage_item(exercised):
    families = {f.name + ("_total" if f.type == "counter" else "") for f in text_string_to_metric_families(exercised)}
    assert set(SPEC["metrics"]) <= families, set(SPEC["metrics"]) - families
    covered = {item for spec in SPEC["metrics"].values() for item in spec["coverage"]}
    assert covered == set(SPEC["coverage"]), "each of the 8 coverage items has a metric"
    assert len(SPEC["coverage"]) == 8


def test_random_paths_do_not_make_new_series(service):
    for n in range(20):
        service.get(f"/random/{n}")
    _, text = service.get("/metrics")
    assert service.metric("ai_cs_http_requests_total", code="404", route="other") == 20
    assert "/random/" not in text


def test_latency_histogram_counts_every_answer_in_cumulative_buckets(exercised, service):
    families = {f.name: f for f in text_string_to_metric_families(exercised)}
    webhook = [
        s
        for s in families["ai_cs_http_request_duration_seconds"].samples
        if s.labels.get("route") == "/api/v1/customer-service/webhook"
    ]
    buckets = [(float(s.labels["le"]), s.value) for s in webhook if s.name.endswith("_bucket")]
    assert [le for le, _ in buckets] == sorted(le for le, _ in buckets) and buckets[-1][0] == float("inf")
    assert all(a <= b for (_, a), (_, b) in itertools.pairwise(buckets)), "cumulative"
    count = next(s.value for s in webhook if s.name.endswith("_count"))
    assert count == buckets[-1][1] == 5, "the five webhook calls, each answered once"
    assert 0 < next(s.value for s in webhook if s.name.endswith("_sum")) < 5


def test_every_labelled_counter_starts_at_zero_for_each_value_the_spec_lists(service):
    """Before any call: a series born at its first event, already counted, is lost to increase() (issue 38 item 9:
    60 refusals right after a restart, increase() 1, no AiCsWebhookSecretMismatch)."""
    _, text = service.get("/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for name, spec in SPEC["metrics"].items():
        if spec["type"] != "counter" or not spec["labels"]:
            continue
        listed = {label: rule for label, rule in spec["labels"].items() if isinstance(rule, list)}
        if len(listed) < len(spec["labels"]):  # a label bound by a pattern: the 5xx answers the error alert counts
            listed["code"] = ["500", "503"]
        for values in itertools.product(*listed.values()):
            key = (name, tuple(sorted(zip(listed, values, strict=True))))
            assert samples.get(key) == 0, f"{name}{dict(key[1])} is not exposed at 0 before its first event"
        assert (name, ()) not in samples, f"{name} exposed without its labels"
