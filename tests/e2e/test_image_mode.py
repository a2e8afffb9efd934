"""Image mode on the lab (ai_cs_deploy_mode=image): the release images, pulled by the digests IMAGE-DIGESTS lists
from the lab's registry (TLS, htpasswd), run by podman under the release's systemd unit on the app hosts.

The tests run in order and build on each other, as test_deploy.py does: fresh, upgrade under the prober's load and
no-op, a failing migration, releases that never get ready or crash at start going back by itself, a tag pushed over
refused, a rollback with the registry down, and back to binary mode in one deploy.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from labutil import (
    APP_HOSTS,
    ROOT,
    current,
    failures,
    history,
    in_host,
    leaked,
    lock_holder,
    playbook,
    print_times,
    recap,
    run,
    sql,
    under_load,
    webhook,
)

pytestmark = pytest.mark.lab
IMAGE = ["-e", "ai_cs_deploy_mode=image"]
REGISTRY = "ai-cs-artifacts:5001"  # the read-only instance, where app hosts pull with their pull-only account
PUSH_REGISTRY = "ai-cs-artifacts:5000"  # the read-write instance, for the publisher's account only
PUBLISH = [
    "/usr/local/lib/ai-cs-publish-images", "/srv/images", "/srv/artifacts/IMAGE-DIGESTS", PUSH_REGISTRY,
    "ai-customer-service", "/etc/docker/registry/publish-auth.json",
]  # fmt: skip


def digests() -> dict[str, str]:
    lines = (ROOT / "build" / "artifacts" / "IMAGE-DIGESTS").read_text().splitlines()
    return {ref.split(":", 1)[1]: digest for digest, ref in (line.split("  ") for line in lines)}


def deploy(version: str, *extra: str, check: bool = True):
    return playbook("deploy", *IMAGE, *extra, check=check, version=version)


def running_image(host: str) -> str:
    """The image reference of the service's container, as podman runs it ('' when none runs)."""
    return in_host(
        host, "podman", "ps", "--filter", "name=^ai-customer-service$", "--format", "{{.Image}}", check=False
    ).strip()


def has_image(host: str, version: str) -> bool:
    ref = f"{REGISTRY}/ai-customer-service@{digests()[version]}"
    return run("podman", "exec", host, "podman", "image", "exists", ref, check=False).returncode == 0


def exec_start(host: str) -> str:
    return in_host(host, "systemctl", "show", "-p", "ExecStart", "--value", "ai-customer-service")


@pytest.fixture(scope="module", autouse=True)
def times(fresh_lab):
    yield
    print_times("image-mode wall times in the lab")
    in_host("ai-cs-artifacts", *PUBLISH, check=False)  # whatever failed above, the registry is left as published


def test_a_fresh_deploy_runs_the_published_digest_and_shows_no_secret_at_vvv():
    proc = deploy("v1.0.0", "-vvv")
    want = f"{REGISTRY}/ai-customer-service@{digests()['v1.0.0']}"
    for host in APP_HOSTS:
        assert running_image(host) == want
        unit = exec_start(host)
        assert "/usr/bin/podman run" in unit and want in unit and ":v1.0.0" not in unit  # by digest, never by tag
        record = history(host)[-1]
        assert (record["mode"], record["image"], record["result"]) == ("image", want, "success")
        # settings and secrets reach the container by name from the unit's environment, never through the image
        env = json.loads(in_host(host, "podman", "image", "inspect", want))[0]["Config"].get("Env", [])
        assert not [e for e in env if e.startswith("AI_CS_")], env
        assert in_host(host, "stat", "-c", "%a %U", "/etc/ai-customer-service/secrets.env").split() == ["600", "root"]
        assert in_host(host, "stat", "-c", "%a", "/etc/ai-customer-service/registry-auth.json").strip() == "600"
    assert f"serving v1.0.0 as image {digests()['v1.0.0'][:19]}" in " ".join(proc.stdout.split())
    # every lab secret, the registry's passwords included, in any encoded form: not in the -vvv output
    assert leaked(proc.stdout, proc.stderr) == []
    assert "registry_password" in {p.name for p in (ROOT / "inventories" / "lab" / ".secrets").iterdir()}


def test_an_upgrade_under_load_migrates_from_the_image_and_answers_signed_webhooks_and_a_rerun_changes_nothing(
    tmp_path,
):
    with under_load("image-mode deploy v1.0.0 -> v1.1.0", tmp_path) as load:
        proc = deploy("v1.1.0")
    assert load["failed"] == 0, f"each host is drained before its container is replaced: {failures(load)}"
    assert {"v1.0.0", "v1.1.0"} <= set(load["versions"]), "the load ran across the whole switch"
    assert "0002_ticket_priority.up.sql (schema 1 -> 2)" in proc.stdout
    want = f"{REGISTRY}/ai-customer-service@{digests()['v1.1.0']}"
    for host in APP_HOSTS:
        assert running_image(host) == want
        assert in_host(host, "cat", "/opt/ai-customer-service/releases/v1.1.0/IMAGE").strip() == want
        # the migrations the deploy ran came out of the image
        assert "0002_ticket_priority.up.sql" in in_host(
            host, "ls", "/opt/ai-customer-service/releases/v1.1.0/db/migration"
        )
    assert webhook(f"image-mode-{time.time_ns()}")["status"] == "accepted"
    again = deploy("v1.1.0")
    rows = recap(again.stdout)
    assert all(rows[h]["changed"] == 0 for h in APP_HOSTS), rows


def test_diagnose_reads_the_container_its_image_and_the_port_it_holds(tmp_path):
    proc = playbook("diagnose", "-e", json.dumps({"diagnose_report_dir": str(tmp_path)}))
    report = json.loads((tmp_path / "latest.json").read_text())
    want = f"{REGISTRY}/ai-customer-service@{digests()['v1.1.0']}"
    for host in APP_HOSTS:
        checks = {c["name"]: c for c in report["hosts"][host]["checks"]}
        assert {n for n, c in checks.items() if c["status"] == "FAIL"} == set(), checks
        assert "container running" in checks["service"]["detail"] and want in checks["service"]["detail"]
        assert "held by the service" in checks["port"]["detail"]
        assert (report["hosts"][host]["facts"]["mode"], report["hosts"][host]["facts"]["image"]) == ("image", want)
    assert leaked(proc.stdout, json.dumps(report)) == []


def test_a_failing_migration_from_the_image_leaves_database_and_service_as_they_were():
    bad = "v1.1.1-fixture.failing-migration"
    tickets = sql("SELECT count(*) FROM cs_tickets")
    proc = deploy(bad, check=False)
    assert proc.returncode != 0
    said = " ".join(proc.stdout.split())
    assert "the migration failed" in said and "schema version stays 2 and is not dirty" in said
    # the failing file came out of the image the deploy pulled (by digest) for that release
    assert "0003_fixture_fails_partway.up.sql" in in_host(
        "ai-cs-app1", "ls", f"/opt/ai-customer-service/releases/{bad}/db/migration"
    )
    assert sql("SELECT version, dirty FROM schema_migrations") == "2|f"
    assert sql("SELECT to_regclass('cs_fixture_partial') IS NULL") == "t"
    assert sql("SELECT count(*) FROM cs_tickets") == tickets
    want = f"{REGISTRY}/ai-customer-service@{digests()['v1.1.0']}"
    for host in APP_HOSTS:
        assert running_image(host) == want and current(host).endswith("v1.1.0")
    assert lock_holder() == ""


@pytest.mark.parametrize(
    ("bad", "cause"),
    [
        ("v1.1.1-fixture.never-ready", "'startup': 'DOWN'"),
        # the container's own log line, read from the unit's journal
        ("v1.1.1-fixture.crash-at-start", "fixture build: crash at start"),
    ],
)
def test_an_unhealthy_release_goes_back_to_the_previous_digest(bad, cause):
    proc = deploy(bad, "-e", "verify_timeout=20", check=False)
    assert proc.returncode != 0
    said = " ".join(proc.stdout.split())
    assert f"deploy {bad} failed on ai-cs-app1 at 'Wait for live, ready and the expected version'" in said
    assert "Rolled back automatically: v1.1.0 is serving again and verified ready" in said
    assert cause in said
    want = f"{REGISTRY}/ai-customer-service@{digests()['v1.1.0']}"
    assert running_image("ai-cs-app1") == want
    bad_mark = json.loads(in_host("ai-cs-app1", "cat", f"/opt/ai-customer-service/releases/{bad}/.bad"))
    assert bad_mark["version"] == bad
    last = history("ai-cs-app1")[-1]
    assert (last["result"], last["to"], last["mode"]) == ("rolled_back", bad, "image")
    assert running_image("ai-cs-app2") == want and current("ai-cs-app2").endswith("v1.1.0")  # never switched


def test_a_tag_pushed_over_after_publishing_is_refused_before_anything_is_pulled():
    victim = "v1.1.1-fixture.webhook-errors"  # a release no test of this module deploys
    in_host(
        "ai-cs-artifacts", "skopeo", "copy", "--quiet", "--authfile", "/etc/docker/registry/publish-auth.json",
        "oci:/srv/images:v1.0.0", f"docker://{PUSH_REGISTRY}/ai-customer-service:{victim}",
    )  # fmt: skip
    try:
        proc = deploy(victim, check=False)
        assert proc.returncode != 0
        said = " ".join(proc.stdout.split())
        assert f"{REGISTRY}/ai-customer-service:{victim} is {digests()['v1.0.0']} in the registry" in said
        assert f"but {digests()[victim]} in http://ai-cs-artifacts:8000/IMAGE-DIGESTS" in said
        for host in APP_HOSTS:
            assert not has_image(host, victim)
            assert current(host).endswith("v1.1.0") and running_image(host).endswith(digests()["v1.1.0"])
    finally:
        assert f"published {victim}" in in_host("ai-cs-artifacts", *PUBLISH)


def test_a_rollback_to_an_image_on_the_hosts_needs_neither_registry_nor_artifact_server():
    services = ("docker-registry", "ai-cs-registry-pull", "ai-cs-artifacts")
    in_host("ai-cs-artifacts", "systemctl", "stop", *services)
    try:
        playbook("rollback", *IMAGE, version="v1.0.0")
    finally:
        in_host("ai-cs-artifacts", "systemctl", "start", *services)
    want = f"{REGISTRY}/ai-customer-service@{digests()['v1.0.0']}"
    for host in APP_HOSTS:
        assert running_image(host) == want
        assert history(host)[-1]["operation"] == "rollback"


def test_an_app_hosts_registry_credential_can_neither_push_nor_delete():
    """The credential on every app host is the pull-only account: pushing over a release's tag and deleting its
    manifest are refused at either instance, and what serves keeps its image."""
    auth = "/etc/ai-customer-service/registry-auth.json"
    for registry in (REGISTRY, PUSH_REGISTRY):
        push = run(
            "podman", "exec", "ai-cs-app1", "skopeo", "copy", "--quiet", "--authfile", auth,
            "--dest-cert-dir", f"/etc/containers/certs.d/{REGISTRY}",
            f"docker://{REGISTRY}/ai-customer-service@{digests()['v1.0.0']}",
            f"docker://{registry}/ai-customer-service:v1.1.0", check=False,
        )  # fmt: skip
        assert push.returncode != 0, f"the app host's account pushed to {registry}"
        delete = run(
            "podman", "exec", "ai-cs-app1", "skopeo", "delete", "--authfile", auth,
            "--cert-dir", f"/etc/containers/certs.d/{REGISTRY}",
            f"docker://{registry}/ai-customer-service@{digests()['v1.1.0']}", check=False,
        )  # fmt: skip
        assert delete.returncode != 0, f"the app host's account deleted at {registry}"
    assert "published v1.1.0" not in in_host("ai-cs-artifacts", *PUBLISH)  # the tags are as published
    for host in APP_HOSTS:
        assert has_image(host, "v1.0.0")


def release_images(host: str) -> set[str]:
    """The digests of the release images on the host."""
    refs = in_host(host, "podman", "images", "--noheading", "--format", "{{.Repository}}@{{.Digest}}").split()
    return {ref.split("@", 1)[1] for ref in refs if ref.startswith(f"{REGISTRY}/ai-customer-service@")}


def test_back_to_binary_mode_is_one_deploy_and_prunes_images_beyond_release_keep():
    fixtures = {digests()[v] for v in ("v1.1.1-fixture.never-ready", "v1.1.1-fixture.crash-at-start")}
    assert fixtures <= release_images("ai-cs-app1"), "the failed releases' images were pulled onto the canary"
    # release_keep=1: the newest staged release (the crash-at-start fixture, staged last), the one switched to and
    # the one switched from (the go-back target) stay; the older never-ready fixture is beyond, and goes with its image
    proc = playbook("deploy", "-e", "release_keep=1", version="v1.1.0")
    assert "serving v1.1.0 (was v1.0.0" in " ".join(proc.stdout.split())
    for host in APP_HOSTS:
        assert running_image(host) == ""
        assert re.search(r"path=/opt/ai-customer-service/releases/v1\.1\.0/ai-customer-service ", exec_start(host))
        assert history(host)[-1]["mode"] == "binary"
        kept = ["v1.0.0", "v1.1.0", "v1.1.1-fixture.crash-at-start"]
        assert in_host(host, "ls", "/opt/ai-customer-service/releases").split() == kept
        # the images of the releases pruned are gone, those of the releases kept stay
        assert release_images(host) == {digests()[v] for v in kept}
