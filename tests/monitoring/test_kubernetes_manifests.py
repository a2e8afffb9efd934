"""The Kubernetes manifests rendered from the lab's inventory (playbooks/k8s-manifests.yml), validated offline
against the Kubernetes schema (kubernetes-validate, strict: unknown fields are errors), with the probes the
inventory gives, the ones the lab's liveness watchdog uses."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from monitoring_util import ROOT

K8S_VERSION = "1.30"  # the oldest minor still supported upstream when this was written
INVENTORY = ROOT / "inventories" / "lab"
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
SECRETS = {"ai_cs_webhook_secret": "k8s-test/+=@%secret", "ai_cs_postgres_password": "k8s-test:pass/+=@%"}


# What the artifact server publishes beside SHA256SUMS (service/build.py --images): "<digest>  <repository>:<tag>".
DIGEST = "sha256:" + "d" * 64
DIGESTS = f"sha256:{'a' * 64}  ai-customer-service:v1.0.0\n{DIGEST}  ai-customer-service:v1.1.0\n"


def render(version: str, dest: Path) -> subprocess.CompletedProcess:
    digests = dest.parent / f"{dest.name}-IMAGE-DIGESTS"
    digests.write_text(DIGESTS)
    cmd = [PLAYBOOK, "-i", str(INVENTORY), "playbooks/k8s-manifests.yml", "-e", f"version={version}"]
    cmd += ["-e", f"k8s_dest={dest}", "-e", f"k8s_image_digests={digests}", "-e", json.dumps(SECRETS)]
    return subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, text=True)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> list[dict]:
    dest = tmp_path_factory.mktemp("k8s")
    result = render("v1.1.0", dest)
    assert result.returncode == 0, result.stdout + result.stderr
    return [doc for doc in yaml.safe_load_all((dest / "ai-customer-service.yml").read_text()) if doc]


def test_every_manifest_is_valid_against_the_kubernetes_schema(manifests):
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Deployment", "Service"]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_the_validation_can_fail():
    """A misspelt probe field is refused (strict), so the test above would see one."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {
                            "name": "x",
                            "image": "x",
                            "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}, "periodSecond": 5},
                        }
                    ]
                },
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(copy.deepcopy(deployment), K8S_VERSION, strict=True)


def test_the_probes_are_the_inventorys(manifests):
    probes = yaml.safe_load((INVENTORY / "group_vars" / "all" / "main.yml").read_text())["ai_cs_probes"]
    container = manifests[1]["spec"]["template"]["spec"]["containers"][0]
    for kind in ("liveness", "readiness", "startup"):
        rendered, want = container[f"{kind}Probe"], probes[kind]
        assert rendered["httpGet"] == {"path": want["path"], "port": "http"}, kind
        assert rendered["periodSeconds"] == want["period_seconds"], kind
        assert rendered["timeoutSeconds"] == want["timeout_seconds"], kind
        assert rendered["failureThreshold"] == want["failure_threshold"], kind
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_no_secret_is_rendered(manifests):
    text = yaml.safe_dump_all(manifests)
    assert not any(secret in text for secret in SECRETS.values())
    assert "AI_CS_POSTGRES_DSN" not in text and "AI_CS_WEBHOOK_SECRET" not in text
    env_from = manifests[1]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "ai-customer-service-secrets"}} in env_from


def test_the_image_is_named_by_its_published_digest_never_by_its_tag(manifests):
    """A tag pushed over after publishing cannot change what the cluster runs: the tag is not in the manifest."""
    image = manifests[1]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"ai-cs-artifacts:5001/ai-customer-service@{DIGEST}"


def test_a_release_without_a_published_digest_is_refused_before_anything_is_written(tmp_path: Path):
    result = render("v1.2.0", tmp_path / "out")
    assert result.returncode != 0
    assert "lists 0 digests for ai-cs-artifacts:5001/ai-customer-service:v1.2.0" in result.stdout
    assert not (tmp_path / "out").exists()


def test_a_bad_version_is_refused_before_anything_is_written(tmp_path: Path):
    result = render("latest", tmp_path / "out")
    assert result.returncode != 0 and "no valid version given (latest)" in result.stdout
    assert not (tmp_path / "out").exists()
