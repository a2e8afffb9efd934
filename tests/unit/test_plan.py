"""The pipeline's request rules (module_utils/ai_cs_plan.py), one rule per test, with no lab and no Ansible run."""

from __future__ import annotations

import pytest
from ansible.module_utils.ai_cs_plan import (
    BOUNDS,
    RefusedError,
    Request,
    alertmanager_problem,
    batches,
    beside_backup,
    bounds_problems,
    canary_problems,
    check_request,
    choose_targets,
    fleet_problem,
    hook_tasks_problem,
    hooks_problems,
    notify_problem,
    rollback_options_problems,
    swap_problem,
    version_problem,
)

APP = ["app1", "app2"]
CANARY = {
    "pipeline_canary": True,
    "pipeline_canary_window": 60,
    "pipeline_canary_interval": 5,
    "pipeline_canary_min_requests": 50,
    "pipeline_canary_max_5xx_increase": 0.01,
    "pipeline_canary_max_reject_increase": 0.05,
    "pipeline_canary_confidence": 0.95,
}


def request(operation="deploy", version="v1.1.0", run_hosts=None, **options):
    return check_request(
        operation,
        version,
        options=options,
        settings=dict(CANARY),
        app_hosts=APP,
        run_hosts=APP if run_hosts is None else run_hosts,
    )


def refused(**kwargs) -> str:
    with pytest.raises(RefusedError) as caught:
        request(**kwargs)
    return str(caught.value)


@pytest.mark.parametrize("good", ["v1.0.0", "v10.20.30", "v1.1.1-fixture.never-ready", "v1.0.0-rc.1"])
def test_a_version_is_vmajor_minor_patch_with_an_optional_suffix(good):
    assert version_problem(good) == ""


@pytest.mark.parametrize("bad", ["1.0.0", "v1.0", "v01.0.0", "v1.0.0;touch /tmp/pwned", "v1.0.0 --x", "$(id)",
                                 "v1.0.0\n", 1.0, None])  # fmt: skip
def test_anything_else_is_refused_naming_the_form(bad):
    assert "refused: it must look like v1.2.3" in version_problem(bad)


def test_no_version_says_none_was_given():
    assert "Cause: no version given" in version_problem("")


def test_a_refusal_says_nothing_was_changed():
    assert refused(version="v1").endswith("Nothing was changed.")


def test_rollback_to_previous_or_config_only_needs_no_version():
    assert request("rollback", "previous").version == "previous"
    assert request("rollback", "", config_only="true").config_only is True


@pytest.mark.parametrize(
    ("spec", "fleet", "sizes"),
    [
        (1, 4, [1]),
        ("2", 4, [2]),
        (4, 4, [4]),
        ("50%", 4, [2]),
        ("10%", 4, [1]),  # at least one host
        ("100%", 3, [3]),
        ("canary,2", 5, [1, 2]),
        ("canary,50%", 8, [1, 4]),
        ("canary,1", 1, [1]),  # a fleet of one is its own canary
    ],
)
def test_batch_sizes_a_fleet_needs(spec, fleet, sizes):
    assert batches(spec, fleet) == (sizes, "")


@pytest.mark.parametrize("spec", [0, "0", -1, "-1", "150%", "0%", "abc", "1;id", "5", "", None, True, "canary", "2.5"])
def test_bad_batch_sizes_are_refused_with_the_forms_named(spec):
    sizes, problem = batches(spec, 4)
    assert sizes == [] and "deploy_batch_size must be a number of hosts (1..4" in problem


def test_a_canary_batch_over_one_host_is_just_that_host():
    assert batches("canary,1", 1) == ([1], "")


@pytest.mark.parametrize("flag", ["keep_config", "config_only", "include_secrets", "migrate_down", "rollback_backup"])
def test_rollback_flags_take_true_or_false(flag):
    flags = {"keep_config": False, "config_only": False, "include_secrets": False, "migrate_down": False, flag: "maybe"}
    problems = rollback_options_problems(Request("rollback", "v1.0.0"), flags)
    assert problems == [
        "keep_config, config_only, include_secrets, migrate_down and rollback_backup take true or false"
    ]


def test_a_rollback_takes_its_safety_backup_unless_told_not_to():
    assert request(operation="rollback", version="v1.0.0").rollback_backup is True
    assert request(operation="rollback", version="v1.0.0", rollback_backup="false").rollback_backup is False


def test_skipping_the_rollback_backup_is_refused_on_a_deploy():
    assert "rollback_backup are rollback options" in refused(rollback_backup=False)


ROLLBACK = {"operation": "rollback", "rollback_backup": True}
MOVES = {"app1": {"from": "v1.1.0", "target": "v1.0.0"}, "app2": {"from": "v1.1.0", "target": "v1.0.0"}}
STAYS = {"app1": {"from": "v1.0.0", "target": "v1.0.0"}, "app2": {"from": "v1.0.0", "target": "v1.0.0"}}


def test_a_rollback_dumps_beside_its_switch_named_for_what_it_leaves():
    assert beside_backup(ROLLBACK, MOVES) == {"beside": True, "from": "v1.1.0", "to": "v1.0.0"}


def test_the_dump_is_named_for_a_host_that_changes_version_not_one_already_there():
    half = {"app1": {"from": "v1.0.0", "target": "v1.0.0"}, "app2": {"from": "v1.1.0", "target": "v1.0.0"}}
    assert beside_backup(ROLLBACK, half) == {"beside": True, "from": "v1.1.0", "to": "v1.0.0"}


def test_the_dump_is_named_for_a_host_that_served_a_release_not_one_being_repaired():
    repaired = {"app1": {"from": "", "target": "v1.0.0"}, "app2": {"from": "v1.1.0", "target": "v1.0.0"}}
    assert beside_backup(ROLLBACK, repaired) == {"beside": True, "from": "v1.1.0", "to": "v1.0.0"}
    nothing = {"app1": {"from": "", "target": "v1.0.0"}}
    assert beside_backup(ROLLBACK, nothing) == {"beside": True, "from": "none", "to": "v1.0.0"}


def test_a_rollback_that_moves_no_host_takes_no_backup():
    assert beside_backup(ROLLBACK, STAYS)["beside"] is False


def test_a_rollback_told_not_to_takes_no_backup_beside_its_switch():
    assert beside_backup({**ROLLBACK, "rollback_backup": False}, MOVES)["beside"] is False


def test_a_config_only_rollback_takes_no_backup():
    # runbook 6.2 takes none: only the settings change
    assert beside_backup({**ROLLBACK, "config_only": True}, STAYS)["beside"] is False


@pytest.mark.parametrize("option", [{"restore_backup": "auto"}, {"migrate_down": True}])
def test_a_restore_or_down_migration_takes_its_backup_first_not_beside(option):
    # they dump with the service stopped, before the database changes (database_rollback.yml)
    assert beside_backup({**ROLLBACK, **option}, MOVES)["beside"] is False


def test_a_deploy_dumps_before_its_migrations_not_beside_its_switch():
    assert beside_backup({**ROLLBACK, "operation": "deploy"}, MOVES)["beside"] is False


def test_include_secrets_goes_with_config_only():
    problems = rollback_options_problems(Request("rollback", "v1.0.0", include_secrets=True), {})
    assert problems == [
        "include_secrets goes with config_only=true (runbook 6.2: the config rollback, secrets included); a code "
        "rollback keeps the vault's secrets"
    ]
    assert rollback_options_problems(Request("rollback", "", config_only=True, include_secrets=True), {}) == []


@pytest.mark.parametrize("bad", ["auto; rm -rf /", "relative.pgc", "/x/../etc/passwd.pgc", "/x/dump.sql", "/x/a b.pgc"])
def test_restore_backup_is_auto_or_an_absolute_plain_pgc_path(bad):
    problems = rollback_options_problems(Request("rollback", "v1.0.0", restore_backup=bad), {"keep_config": False,
                                         "config_only": False, "migrate_down": False})  # fmt: skip
    assert problems and problems[0].startswith("restore_backup must be auto or the absolute path")


def test_restore_and_migrate_down_exclude_each_other():
    assert "choose one" in refused(operation="rollback", version="v1.0.0", restore_backup="auto", migrate_down=True)


def test_config_only_goes_alone():
    assert "config_only changes the config alone" in refused(operation="rollback", version="", config_only=True,
                                                              keep_config=True)  # fmt: skip


def test_rollback_options_are_refused_on_a_deploy():
    assert "are rollback options" in refused(keep_config=True)


def test_a_change_under_every_host_needs_every_host_in_the_run():
    problem = fleet_problem(Request("rollback", "v1.0.0", restore_backup="auto"), ["app2"])
    assert problem.startswith("restore_backup changes the database under every app host, and app2 would not be")


def test_the_dev_reset_needs_every_host_in_the_run():
    assert "the dev reset changes the database" in refused(operation="reset", version="", run_hosts=["app1"])


def test_a_plain_deploy_may_leave_hosts_out():
    assert fleet_problem(Request("deploy", "v1.1.0"), ["app2"]) == ""


def test_a_run_with_no_app_host_is_refused():
    assert "this run has no app host (db1; cause: --limit" in refused(run_hosts=["db1"])


@pytest.mark.parametrize(
    ("name", "value"),
    [("pipeline_canary_window", "abc"), ("pipeline_canary_interval", 0), ("pipeline_canary_window", 1),
     ("pipeline_canary_min_requests", 0), ("pipeline_canary_min_requests", 1.5),
     ("pipeline_canary_max_5xx_increase", 5), ("pipeline_canary_confidence", 1)],
)  # fmt: skip
def test_the_canary_numbers_must_be_numbers_in_range_and_order(name, value):
    (problem,) = canary_problems({**CANARY, name: value})
    assert problem.startswith("the canary analysis' settings must be numbers") and "got [" in problem


def test_the_canary_switch_takes_true_or_false():
    assert canary_problems({**CANARY, "pipeline_canary": "maybe"}) == ["pipeline_canary takes true or false"]


@pytest.mark.parametrize("bound", BOUNDS, ids=lambda b: b.name)
def test_every_numeric_option_has_a_range_checked_with_the_request(bound):
    inside = int(bound.low) if bound.whole else bound.low
    assert bounds_problems({bound.name: inside}) == []
    for outside in (bound.low - 1, bound.high + 1, "abc", "", True):
        (problem,) = bounds_problems({bound.name: outside})
        assert problem.startswith(f"{bound.name} must be a") and f"from {inside} to " in problem, problem
        assert "; got " in problem


def test_a_negative_timeout_is_refused_naming_option_value_and_range():
    """issue 36 item 15: -e verify_timeout=-5 was accepted and the deploy changed the hosts."""
    with pytest.raises(RefusedError) as caught:
        check_request("deploy", "v1.1.0", options={}, settings={**CANARY, "verify_timeout": "-5"}, app_hosts=APP,
                      run_hosts=APP)  # fmt: skip
    problem = str(caught.value)
    assert "verify_timeout must be a whole number from 1 to 3600" in problem and 'got "-5"' in problem


def test_a_whole_number_option_refuses_a_fraction():
    assert bounds_problems({"release_keep": "2.5"})[0].startswith("release_keep must be a whole number from 1 to 999")


def test_an_unknown_deploy_mode_is_refused_naming_it():
    assert swap_problem("kube").endswith('got "kube"') and swap_problem("image") == ""


def test_hooks_map_known_points_to_lists_of_files():
    assert hooks_problems({"before_switch": ["hooks/a.yml"]}, lambda _name: "") == []
    for bad in ({"whenever": ["a.yml"]}, {"before_switch": "a.yml"}, ["a.yml"]):
        assert hooks_problems(bad, lambda _name: "")[0].startswith("ai_cs_hooks (pipeline_hooks) must map points")


def test_every_hook_files_problem_is_listed():
    problems = hooks_problems({"before_switch": ["hooks/a.yml", "hooks/b.yml"]}, lambda name: f"{name} is bad")
    assert problems == ["hooks/a.yml is bad", "hooks/b.yml is bad"]


@pytest.mark.parametrize("end", ["end_host", "end_play", "end_batch"])
def test_a_hook_that_ends_the_host_is_refused(end):
    """issue 36 item 13: a hook's meta: end_host skipped the rescue that releases the lock and the silences."""
    tasks = [{"name": "x", "block": [{"name": "y", "ansible.builtin.meta": end}]}]
    assert hook_tasks_problem(tasks).startswith(f"ends the host or the play (meta: {end})")


@pytest.mark.parametrize("include", ["ansible.builtin.include_tasks", "import_tasks", "include_role"])
def test_a_hook_that_includes_other_files_is_refused(include):
    assert hook_tasks_problem([{"name": "x", include: "more.yml"}]).startswith("brings in other task files")


def test_a_hook_of_plain_tasks_is_taken():
    tasks = [{"name": "a", "ansible.builtin.fail": {"msg": "closed"}, "when": "x"}, {"ansible.builtin.meta": "noop"}]
    assert hook_tasks_problem(tasks) == ""


def test_receivers_are_urls_with_known_formats_and_events_and_are_never_shown():
    secret = "https://hooks.example/T0/s3cr3t"
    assert notify_problem([{"url": secret, "format": "slack", "events": ["deploy"]}]) == ""
    for bad in ([{"url": "ftp://x"}], [{"url": secret, "format": "xml"}], [{"url": secret, "events": ["boom"]}], {}):
        problem = notify_problem(bad)
        assert problem.startswith("ai_cs_notify (pipeline_notify) must be a list") and "s3cr3t" not in problem


def test_every_problem_is_listed_at_once():
    with pytest.raises(RefusedError) as caught:
        settings = {**CANARY, "release_keep": 0, "pipeline_swap": "kube"}
        options = {"restore_backup": "x", "batch_size": "0"}
        check_request("rollback", "v1.0.0", options=options, settings=settings, app_hosts=APP, run_hosts=APP)
    assert len(caught.value.problems) == 4, caught.value.problems


def test_a_good_request_gives_its_batches_and_options():
    got = request("rollback", "v1.0.0", batch_size="canary,50%", restore_backup="auto", confirm="db")
    assert got.batches == [1, 1] and got.restore_backup == "auto" and got.confirm == "db" and not got.migrate_down


def serving(version="v1.1.0", previous="v1.0.0", on_disk=("v1.0.0", "v1.1.0"), bad=None):
    return {"version": version, "previous": previous, "on_disk": list(on_disk), "bad": bad or {}, "mode": "binary"}


def targets(operation, asked, servings=None, **request):
    run = {"operation": operation, "version": asked}
    return choose_targets(run, request, servings or {"app1": serving(), "app2": serving()})


def test_a_deploy_targets_the_version_asked_for_on_every_host():
    assert targets("deploy", "v1.2.0") == {"app1": "v1.2.0", "app2": "v1.2.0"}


def test_a_rollback_to_previous_targets_each_hosts_recorded_previous():
    assert targets("rollback", "previous") == {"app1": "v1.0.0", "app2": "v1.0.0"}


def test_a_rollback_with_no_previous_recorded_is_refused_naming_the_host_and_what_is_on_disk():
    with pytest.raises(RefusedError) as caught:
        targets("rollback", "previous", {"app1": serving(previous=""), "app2": serving()})
    assert "no previous version is recorded on app1" in str(caught.value)
    assert "releases on disk: v1.0.0, v1.1.0" in str(caught.value)


def test_a_recorded_previous_that_is_not_a_version_is_refused():
    with pytest.raises(RefusedError, match=r"app1.s record names version .* refused: it must look like v1\.2\.3"):
        targets("rollback", "previous", {"app1": serving(previous="v1;id"), "app2": serving()})


def test_hosts_going_back_to_different_versions_are_refused():
    with pytest.raises(RefusedError, match=r"previous versions differ \(app1: v1.0.0, app2: v0.9.0"):
        targets("rollback", "previous", {"app1": serving(), "app2": serving(previous="v0.9.0")})


def test_a_target_marked_bad_is_refused_with_the_reason():
    with pytest.raises(RefusedError, match=r"v1\.0\.0 is marked bad on app2: verify: not ready"):
        targets("rollback", "v1.0.0", {"app1": serving(), "app2": serving(bad={"v1.0.0": "verify: not ready"})})


def test_a_config_only_rollback_targets_what_serves():
    assert targets("rollback", "", config_only=True) == {"app1": "v1.1.0", "app2": "v1.1.0"}


def test_a_config_only_rollback_of_another_version_is_refused():
    with pytest.raises(RefusedError, match="config_only rolls back the config of the version that serves"):
        targets("rollback", "v1.0.0", config_only=True)


def test_a_reset_targets_what_serves():
    assert targets("reset", "") == {"app1": "v1.1.0", "app2": "v1.1.0"}


def test_alertmanager_url_is_http_or_https_without_credentials_in_it():
    assert alertmanager_problem("") == ""
    assert alertmanager_problem("https://mon1:9093") == ""
    assert "without query or credentials" in alertmanager_problem("https://user:pw@mon1:9093")
    assert "without query or credentials" in alertmanager_problem("https://mon1:9093/?x=1")


def test_alertmanager_account_is_never_sent_over_plain_http():
    assert "sent unencrypted" in alertmanager_problem("http://mon1:9093", "ai-cs-pipeline", True)
    assert alertmanager_problem("https://mon1:9093", "ai-cs-pipeline", True) == ""


def test_alertmanager_account_needs_its_password():
    assert "ai_cs_alertmanager_password" in alertmanager_problem("https://mon1:9093", "ai-cs-pipeline", False)


# The memory store (runbook section 四): test and development only, no database to back up, migrate or restore.
def memory_request(env="development", **options):
    return check_request(
        "deploy" if not options else "rollback",
        "v1.0.0",
        options=options,
        settings={**CANARY, "ai_cs_env": env, "ai_cs_postgres_enabled": "false"},
        app_hosts=APP,
        run_hosts=APP,
    )


def test_a_request_without_postgresql_runs_on_the_memory_store():
    assert memory_request().store == "memory"
    assert request().store == "postgres"


def test_the_memory_store_is_refused_for_production_as_the_service_would():
    with pytest.raises(RefusedError) as caught:
        memory_request("production")
    # the runbook's row, the same cause and fix as preflight's and diagnose's
    assert (
        "memory fallback is not allowed: AI_CS_ENV=production but AI_CS_POSTGRES_ENABLED is not true (cause: "
        "AI_CS_ENV=production but AI_CS_POSTGRES_ENABLED is not true; fix: set ai_cs_postgres_enabled true and deploy "
        "again (deploy.yml -e version=<serving version>))"
    ) in str(caught.value)


@pytest.mark.parametrize("option", [{"restore_backup": "auto", "confirm": "x"}, {"migrate_down": True}])
def test_a_restore_or_down_migration_is_refused_on_the_memory_store(option):
    with pytest.raises(RefusedError, match=r"the memory store .* has none"):
        memory_request(**option)


def test_the_dev_reset_is_refused_on_the_memory_store_which_a_restart_empties():
    with pytest.raises(RefusedError, match=r"the dev reset truncates .* systemctl restart"):
        check_request(
            "reset",
            "",
            options={"confirm": "db"},
            settings={"ai_cs_env": "development", "ai_cs_postgres_enabled": False},
            app_hosts=APP,
            run_hosts=APP,
        )


def test_a_rollback_on_the_memory_store_takes_no_backup():
    assert beside_backup({**ROLLBACK, "store": "memory"}, MOVES)["beside"] is False


def test_a_host_serving_production_is_never_put_on_the_memory_store():
    # what the host's serving release runs with, read from its settings on disk, not a variable
    prod = {**serving(), "env": "production"}
    with pytest.raises(RefusedError, match=r"app1 serves AI_CS_ENV=production .* a production host never leaves"):
        targets("deploy", "v1.2.0", {"app1": prod, "app2": {**serving(), "env": "development"}}, store="memory")
    assert targets("deploy", "v1.2.0", {"app1": prod, "app2": prod}) == {"app1": "v1.2.0", "app2": "v1.2.0"}
    dev = {**serving(), "env": "development"}
    assert targets("deploy", "v1.2.0", {"app1": dev, "app2": dev}, store="memory")["app1"] == "v1.2.0"
