"""A release on an app host (module_utils/ai_cs_release.py): the swap modes, the swap's refusals and puts, the record,
and what a failed switch goes back to. On a directory tree like a host's; systemd is replaced where the rule under
test is not systemd's (the lab's suites switch real hosts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible.module_utils import ai_cs_release as release
from ansible.module_utils.ai_cs_plan import swap_problem
from ansible.module_utils.ai_cs_release import (
    Check,
    Mode,
    Paths,
    StepError,
    Switch,
    detect,
    go_back,
    mark_bad,
    put_file,
    record,
    register,
    swap,
)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """A host serving v1 (current -> releases/v1, its unit installed), with v2 staged: complete, with its executable,
    its unit, a staged config (.next) and staged secrets (.next)."""
    install = tmp_path / "opt"
    host = Paths(str(install), "svc", str(tmp_path / "etc" / "secrets.env"), str(tmp_path / "state"),
                 str(tmp_path / "facts" / "ai_cs.fact"), str(tmp_path / "units"))  # fmt: skip
    for version in ("v1", "v2"):
        rel = install / "releases" / version
        rel.mkdir(parents=True)
        (rel / ".complete").write_text(f"{version}\n")
        exe = rel / "ai-customer-service"
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
        (rel / "svc.service").write_text(f"ExecStart={rel}/ai-customer-service\n")
        (rel / "svc.env").write_text(f'AI_CS_ENV="{version}"\n')
    (install / "current").symlink_to("releases/v1")
    os.makedirs(host.unit_dir)
    Path(host.unit).write_text((install / "releases/v1/svc.service").read_text())
    os.makedirs(os.path.dirname(host.secrets_file))
    Path(host.secrets_file).write_text("AI_CS_WEBHOOK_SECRET=old\n")
    Path(host.secrets_file + ".next").write_text("AI_CS_WEBHOOK_SECRET=new\n")
    Path(host.env("v2") + ".next").write_text('AI_CS_ENV="v2-next"\n')
    return host


def test_a_ready_release_is_put_in_place_keeping_what_it_replaced(paths: Paths) -> None:
    done = swap(paths, "v2", "binary")
    assert done.names() == ["link", "unit", "config", "secrets"]
    assert os.readlink(paths.current) == "releases/v2"
    assert Path(paths.unit).read_text() == Path(paths.release_unit("v2")).read_text()
    assert (
        Path(paths.unit + ".previous").read_text().startswith("ExecStart=")
        and "v1" in Path(paths.unit + ".previous").read_text()
    )
    assert Path(paths.env("v2")).read_text() == 'AI_CS_ENV="v2-next"\n' and not os.path.exists(
        paths.env("v2") + ".next"
    )
    assert Path(paths.secrets_file + ".previous").read_text() == "AI_CS_WEBHOOK_SECRET=old\n"


def test_a_second_swap_changes_nothing(paths: Paths) -> None:
    swap(paths, "v2", "binary")
    assert swap(paths, "v2", "binary").names() == []


@pytest.mark.parametrize(("take_away", "message"), [(".complete", "has no .complete marker"),
                                                    ("ai-customer-service", "has no executable")])  # fmt: skip
def test_a_release_lacking_what_it_needs_is_refused_before_anything_is_put(paths: Paths, take_away, message) -> None:
    os.unlink(os.path.join(paths.release("v2"), take_away))
    with pytest.raises(StepError, match=message):
        swap(paths, "v2", "binary")
    assert os.readlink(paths.current) == "releases/v1"
    assert os.path.exists(paths.env("v2") + ".next") and os.path.exists(paths.secrets_file + ".next")


def test_a_file_that_may_not_be_run_is_not_an_executable(paths: Paths) -> None:
    os.chmod(os.path.join(paths.release("v2"), "ai-customer-service"), 0o644)
    with pytest.raises(StepError, match="has no executable"):
        swap(paths, "v2", "binary")


def test_an_image_release_naming_no_image_here_is_refused(paths: Paths) -> None:
    Path(paths.release("v2"), "IMAGE").write_text("registry.invalid/ai-customer-service@sha256:" + "0" * 64 + "\n")
    with pytest.raises(StepError, match="its image is gone from podman"):
        swap(paths, "v2", "image")


def test_an_unknown_mode_is_refused_naming_the_modes(paths: Paths) -> None:
    with pytest.raises(ValueError, match="unknown deploy mode 'kube': one of binary, image"):
        swap(paths, "v2", "kube")


def test_a_third_mode_plugs_in_without_touching_the_swap(paths: Paths) -> None:
    """A mode is one entry: what a release needs for it, how a unit running it looks, what the summary says."""

    class Wasm(Mode):
        name = "wasm"

        def need(self, release_dir: str) -> str | None:
            return None if os.path.exists(os.path.join(release_dir, "app.wasm")) else "no app.wasm"

        def detect(self, exec_start: str) -> bool:
            return "wasmtime " in exec_start

    assert swap_problem("wasm").endswith('got "wasm"'), "unknown before it is registered"
    register(Wasm())
    try:
        assert swap_problem("wasm") == "", "the request takes it as a deploy mode"
        with pytest.raises(StepError, match=r"has no app\.wasm"):
            swap(paths, "v2", "wasm")
        Path(paths.release("v2"), "app.wasm").write_bytes(b"\0asm")
        assert "link" in swap(paths, "v2", "wasm").names()
        assert detect("/usr/bin/wasmtime run app.wasm") == "wasm"
    finally:
        release.MODES.pop("wasm")


def test_a_unit_running_podman_is_image_mode_and_anything_else_binary() -> None:
    assert detect("{ path=/usr/bin/podman ; argv[]=/usr/bin/podman run --rm x }") == "image"
    assert detect("{ path=/opt/ai-customer-service/releases/v1/ai-customer-service }") == "binary"
    assert release.mode("image").describe({"image": "r/x@sha256:" + "a" * 64}) == " as image sha256:aaaaaaaaaaaa"


def test_put_file_keeps_what_it_replaces_and_a_copy_leaves_its_source(tmp_path: Path) -> None:
    src, dest = tmp_path / "a.previous", tmp_path / "a"
    src.write_text("old\n")
    dest.write_text("new\n")
    assert put_file(str(src), str(dest), keep=".before-rollback") is True
    assert dest.read_text() == "old\n" and (tmp_path / "a.before-rollback").read_text() == "new\n" and src.exists()
    assert put_file(str(src), str(dest)) is False, "the same content changes nothing"


def test_put_file_move_of_nothing_is_nothing_and_a_copy_of_nothing_is_an_error(tmp_path: Path) -> None:
    assert put_file(str(tmp_path / "none.next"), str(tmp_path / "x"), move=True) is False
    with pytest.raises(FileNotFoundError, match="no such config to put back"):
        put_file(str(tmp_path / "none.previous"), str(tmp_path / "x"))


def test_a_config_only_rollback_puts_the_earlier_config_back_and_keeps_the_one_it_replaced(paths: Paths) -> None:
    Path(paths.env("v1") + ".previous").write_text('AI_CS_ENV="earlier"\n')
    done = swap(paths, "v1", "binary", link=False, restore=[{"target": "env", "from": ".previous",
                                                             "keep": ".before-rollback"}])  # fmt: skip
    assert done.names() == ["env"] and os.readlink(paths.current) == "releases/v1"
    assert Path(paths.env("v1")).read_text() == 'AI_CS_ENV="earlier"\n'
    assert Path(paths.env("v1") + ".before-rollback").read_text() == 'AI_CS_ENV="v1"\n'


def test_a_success_is_recorded_with_what_ran_before(paths: Paths) -> None:
    record(paths, {"operation": "deploy", "from": "v1", "to": "v2", "result": "success", "backup": "/b.pgc",
                   "run_id": "r1"})  # fmt: skip
    fact = json.loads(Path(paths.fact_file).read_text())
    assert (fact["current"], fact["previous"], fact["backup"], fact["mode"]) == ("v2", "v1", "/b.pgc", "binary")
    record(paths, {"operation": "deploy", "from": "v2", "to": "v2", "result": "success", "run_id": "r2"})
    assert json.loads(Path(paths.fact_file).read_text())["previous"] == "v1", "a config change keeps what ran before"
    lines = Path(paths.state_dir, "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == ["r1", "r2"]


def test_a_failure_is_recorded_in_the_history_only(paths: Paths) -> None:
    record(paths, {"operation": "deploy", "from": "v1", "to": "v2", "result": "rolled_back", "run_id": "r1"})
    assert not os.path.exists(paths.fact_file)
    assert json.loads(Path(paths.state_dir, "history.jsonl").read_text())["result"] == "rolled_back"


def test_a_success_clears_the_bad_mark_of_the_release_that_serves(paths: Paths) -> None:
    mark_bad(paths, "v2", "verify: not ready")
    assert json.loads(Path(paths.release("v2"), ".bad").read_text())["reason"] == "verify: not ready"
    record(paths, {"operation": "deploy", "from": "v1", "to": "v2", "result": "success", "run_id": "r1"})
    assert not os.path.exists(os.path.join(paths.release("v2"), ".bad"))


@pytest.fixture
def no_systemd(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """restart, stop and verify replaced by recorders: what the go-back did, in order."""
    acts: list[str] = []
    monkeypatch.setattr(release, "restart", lambda service: acts.append(f"restart {service}"))
    monkeypatch.setattr(release, "stop", lambda service: acts.append(f"stop {service}"))
    monkeypatch.setattr(release, "verify", lambda check, version, with_smoke=True: acts.append(f"verify {version}"))
    return acts


def test_a_failed_release_goes_back_to_the_one_that_served_with_its_own_unit(paths: Paths, no_systemd) -> None:
    done = swap(paths, "v2", "binary").names()
    result, outcome = go_back(paths, Check("http://x"), Switch("v2", "v1", mark_bad=True), done)
    assert result == "rolled_back" and outcome.startswith("Rolled back automatically: v1 is serving again")
    assert "v2 is marked bad" in outcome and no_systemd == ["restart svc", "verify v1"]
    assert os.readlink(paths.current) == "releases/v1" and "releases/v1/" in Path(paths.unit).read_text()
    assert Path(paths.secrets_file).read_text() == "AI_CS_WEBHOOK_SECRET=old\n", "the secrets it replaced are back"


def test_a_failed_config_change_goes_back_to_the_config_it_replaced(paths: Paths, no_systemd) -> None:
    Path(paths.env("v1") + ".next").write_text('AI_CS_ENV="v1-changed"\n')
    done = swap(paths, "v1", "binary").names()
    assert done == ["config", "secrets"]
    result, outcome = go_back(paths, Check("http://x"), Switch("v1", "v1"), done)
    assert result == "rolled_back" and "the configuration of v1 that served before is restored" in outcome
    assert Path(paths.env("v1")).read_text() == 'AI_CS_ENV="v1"\n'


def test_with_nothing_served_before_the_service_is_stopped(paths: Paths, no_systemd) -> None:
    result, outcome = go_back(paths, Check("http://x"), Switch("v2", "none", mark_bad=True), [])
    assert result == "failed" and no_systemd == ["stop svc"]
    assert "nothing to go back to: the service was stopped and v2 is marked bad" in outcome


def test_a_go_back_that_fails_too_says_the_host_is_not_serving(paths: Paths, monkeypatch) -> None:
    def broken(_service: str) -> None:
        raise StepError("restart", "systemctl restart svc failed: unit not found")

    monkeypatch.setattr(release, "restart", broken)
    result, outcome = go_back(paths, Check("http://x"), Switch("v2", "v1"), swap(paths, "v2", "binary").names())
    assert result == "failed" and "Going back to v1 failed as well at 'restart'" in outcome
    assert "The service is NOT serving on this host" in outcome and "rollback.yml -e version=v1" in outcome


@pytest.fixture
def unit_state(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What systemctl show answers for the service (set by each test)."""
    state = {"ActiveState": "active", "ExecStart": "{ path=/opt/releases/v1/ai-customer-service }"}

    def show(*args: str):
        return type("Done", (), {"stdout": "".join(f"{k}={v}\n" for k, v in state.items()), "returncode": 0})()

    monkeypatch.setattr(release, "systemctl", show)
    return state


def test_read_names_what_serves_what_ran_before_and_what_is_on_disk(paths: Paths, unit_state) -> None:
    record(paths, {"operation": "deploy", "from": "v0", "to": "v1", "result": "success", "run_id": "r"})
    got = release.read(paths)
    assert (got["version"], got["link"], got["previous"], got["on_disk"]) == ("v1", "v1", "v0", ["v1", "v2"])
    assert got["active"] and got["mode"] == "binary" and not got["interrupted"] and not got["dangling"]


def test_read_says_the_environment_and_the_store_the_serving_release_runs_with(paths: Paths, unit_state) -> None:
    # from the serving release's settings on disk: what the plan refuses to move off production
    Path(paths.env("v1")).write_text('AI_CS_ENV="development"\nAI_CS_POSTGRES_ENABLED="false"\n')
    got = release.read(paths)
    assert (got["env"], got["store"]) == ("development", "memory")
    Path(paths.env("v1")).write_text('AI_CS_ENV="production"\nAI_CS_POSTGRES_ENABLED="true"\n')
    assert (release.read(paths)["env"], release.read(paths)["store"]) == ("production", "postgres")


def test_read_of_a_switch_cut_short_goes_by_the_record(paths: Paths, unit_state) -> None:
    """current already points at v2 but no run verified it: what serves verified is the recorded v1."""
    record(paths, {"operation": "deploy", "from": "v0", "to": "v1", "result": "success", "run_id": "r"})
    release.put_link(paths, "v2")
    got = release.read(paths)
    assert (got["version"], got["link"], got["interrupted"], got["previous"]) == ("v1", "v2", True, "v1")


def test_read_of_a_link_to_a_release_that_is_gone_is_dangling(paths: Paths, unit_state) -> None:
    release.put_link(paths, "v0.0.1-gone")
    unit_state.update(ActiveState="failed", ExecStart="{ path=/usr/bin/podman ; argv[]=/usr/bin/podman run x }")
    got = release.read(paths)
    assert (got["version"], got["dangling"], got["active"], got["mode"]) == ("none", True, False, "image")


def test_read_of_a_bare_host_serves_nothing(tmp_path: Path, unit_state) -> None:
    unit_state.update(ActiveState="inactive", ExecStart="")
    bare = Paths(str(tmp_path / "none"), "svc", "", "", str(tmp_path / "no.fact"))
    got = release.read(bare)
    assert (got["version"], got["link"], got["on_disk"], got["record"], got["previous"]) == ("none", "", [], {}, "")


# IMAGE-DIGESTS, read once for the image swap (roles/release) and the Kubernetes manifests (k8s-manifests.yml).
DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
LISTING = f"{DIGEST_A}  ai-customer-service:v1.1.0\n{DIGEST_B}  ai-customer-service:v1.0.0\n"


def test_the_releases_digest_is_found_by_repository_and_version():
    assert release.Image.digests(LISTING, "ai-customer-service", "v1.0.0") == [DIGEST_B]


def test_another_repository_or_a_version_prefix_is_not_the_release():
    assert release.Image.digests(LISTING, "other", "v1.0.0") == []
    assert release.Image.digests(LISTING, "ai-customer-service", "v1.1") == []


def test_a_line_that_is_not_a_digest_or_has_no_name_is_ignored():
    listing = "sha256:abc  ai-customer-service:v1.0.0\nmd5:" + "a" * 32 + "  ai-customer-service:v1.0.0\n" + DIGEST_A
    assert release.Image.digests(listing, "ai-customer-service", "v1.0.0") == []


def test_a_release_listed_twice_gives_both_digests_so_the_caller_refuses_it():
    twice = LISTING + f"{DIGEST_A}  ai-customer-service:v1.0.0\n"
    assert release.Image.digests(twice, "ai-customer-service", "v1.0.0") == [DIGEST_B, DIGEST_A]


def test_no_listing_lists_nothing():
    assert release.Image.digests("", "ai-customer-service", "v1.0.0") == []


def test_ready_means_the_database_up_unless_the_release_runs_on_the_memory_store():
    database = {"status": "UP", "components.postgres": "UP"}
    assert release.ready_expectations({"AI_CS_POSTGRES_ENABLED": "true"}) == database
    assert release.ready_expectations({}) == database
    assert release.ready_expectations({"AI_CS_POSTGRES_ENABLED": "false"}) == {"status": "UP", "components.store": "UP"}


def test_a_verify_without_an_install_directory_judges_ready_by_the_database():
    # a bare verify of a service elsewhere (no release on disk to read the settings of)
    assert release.release_settings(release.Paths(None, "ai-customer-service", "", ""), "v1.1.0") == {}
    assert release.release_settings(None, "v1.1.0") == {}
