"""The controller-side filters (filter_plugins/ai_cs.py): env file, DSN, artifact and migration names."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

spec = importlib.util.spec_from_file_location("ai_cs_filters", ROOT / "filter_plugins" / "ai_cs.py")
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)
F = filters.FilterModule().filters()

NASTY = 'p/a+s=s:w@o%r"d\\$x #1'  # every URL- and shell-special character, a quote and a backslash


def rendered(env: dict[str, str]) -> str:
    """What roles/release/templates/.../ai-customer-service.env.j2 writes (its escaping rule)."""
    return "".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n' for k, v in env.items()
    )


def test_env_file_round_trip_keeps_any_value():
    env = {"AI_CS_WEBHOOK_SECRET": NASTY, "AI_CS_ENV": "production", "AI_CS_ADDR": ":8080"}
    assert F["ai_cs_env"]("# managed\n" + rendered(env) + "NOT_OURS=x\n") == env


def test_dsn_encodes_every_component_and_parses_back():
    dsn = F["ai_cs_dsn"]("ai_cs", NASTY, "ai-cs-db", 5434, "ai_customer_service", sslmode="verify-full")
    assert NASTY not in dsn and "@ai-cs-db:5434/ai_customer_service?sslmode=verify-full" in dsn
    parsed = F["ai_cs_dsn_parse"](dsn)
    assert parsed["password"] == NASTY and parsed["user"] == "ai_cs" and parsed["port"] == 5434
    assert parsed["db"] == "ai_customer_service" and parsed["params"] == {"sslmode": "verify-full"}


@pytest.mark.parametrize("bad", ["", "mysql://x@y/z", "postgres://", "postgres://u:p@h:notaport/db"])
def test_dsn_parse_of_something_else_is_empty(bad):
    assert F["ai_cs_dsn_parse"](bad) == {}


def test_artifact_name_and_the_versions_sha256sums_lists():
    name = F["ai_cs_artifact"]("v1.1.0")
    assert name == "ai-customer-service-v1.1.0-linux-amd64.tar.gz"
    sums = f"{'a' * 64}  {name}\n{'b' * 64}  {F['ai_cs_artifact']('v1.1.1-fixture.never-ready')}\n{'c' * 64}  README\n"
    assert F["ai_cs_artifact_versions"](sums) == ["v1.1.0", "v1.1.1-fixture.never-ready"]


def test_migration_versions_by_module_utils_rule():
    paths = [
        "/opt/x/releases/v1.1.0/db/migration/0002_ticket_priority.up.sql",
        "/opt/x/releases/v1.0.0/db/migration/0001_init.up.sql",
        "/opt/x/releases/v1.1.0/db/migration/0001_init.up.sql",
        "/opt/x/releases/v1.1.0/db/migration/0002_ticket_priority.down.sql",
        "/opt/x/releases/v1.1.0/db/migration/README.md",
    ]
    assert F["ai_cs_migration_versions"](paths) == [1, 2]


def test_runbook_filters_expose_the_judge():
    assert F["ai_cs_runbook"]("pq: connection refused")["id"] == "connection-refused"
    assert F["ai_cs_runbook"]("nothing known") == {}
    assert F["ai_cs_runbook_row"]("auth-4034")["table"] == "Webhook 签名认证联调失败排查"
    assert F["ai_cs_explain"]("CS_AUTH_4031").startswith(" (cause: the upstream sends no X-CS-Signature header")


def test_registry_auth_is_what_podman_reads_and_keeps_any_password():
    text = F["ai_cs_registry_auth"]("ai-cs-artifacts:5000", "ai-cs-pull", NASTY)
    token = json.loads(text)["auths"]["ai-cs-artifacts:5000"]["auth"]
    assert base64.b64decode(token).decode() == f"ai-cs-pull:{NASTY}"  # split at the first colon: the password whole


def test_role_options_merges_the_entry_points_the_switch_runs():
    steps = ["release swap", "release restart", "verify main", "loadbalancer member"]
    merged = F["ai_cs_role_options"](steps, str(ROOT / "roles"))
    assert merged["release_version"]["required"] is True and merged["verify_timeout"]["type"] == "int"
    assert merged["loadbalancer_member_action"]["choices"] == ["drain", "enable"]
    assert "release_keep" not in merged  # main's, not one of these steps'


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("  a:\n    options:\n      x: {type: int}\n  b:\n    options:\n      x: {type: str}\n", "x is specified two"),
        ("  a:\n    options: {}\n", "no argument spec for 'r b'"),
    ],
)
def test_role_options_refuses_what_would_check_less(tmp_path, spec, says):
    (tmp_path / "r/meta").mkdir(parents=True)
    (tmp_path / "r/meta/argument_specs.yml").write_text("argument_specs:\n" + spec)
    with pytest.raises(filters.AnsibleFilterError, match=says):
        F["ai_cs_role_options"](["r a", "r b"], str(tmp_path))
