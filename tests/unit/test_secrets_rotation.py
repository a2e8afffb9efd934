"""The host's secrets file and the webhook secret's rotation window (module_utils/ai_cs_release.py, action secrets of
ai_cs_release): one rule per test, on real files in a temporary directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ansible.module_utils.ai_cs_release import (
    PREVIOUS_SECRET,
    PREVIOUS_UNTIL,
    WEBHOOK_SECRET,
    Paths,
    StepError,
    expire_kept_secrets,
    parse_env,
    put_file,
    render_env,
    stage_secrets,
)

NOW = 1_800_000_000
OLD, NEW = 'old/+=@%"\\secret', "new/+=@%secret"
DSN = "postgres://ai_cs:p%2F%2B%3D%40%25@db:5434/ai_customer_service?sslmode=verify-full"


@pytest.fixture
def host(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "opt"), "svc", str(tmp_path / "etc" / "secrets.env"), str(tmp_path / "state"))


def serving(host: Paths, **values: str) -> None:
    Path(host.secrets_file).parent.mkdir(mode=0o700, exist_ok=True)
    Path(host.secrets_file).write_text(render_env(values, "serving"))


def staged(host: Paths) -> dict[str, str] | None:
    pending = Path(host.secrets_file + ".next")
    return parse_env(pending.read_text()) if pending.exists() else None


def stage(host: Paths, window: int = 3600, now: int = NOW, check: bool = False, secret: str = NEW) -> dict:
    return stage_secrets(host, {"AI_CS_POSTGRES_DSN": DSN, WEBHOOK_SECRET: secret}, window, now, check)


def test_values_full_of_special_characters_read_back_as_written():
    values = {WEBHOOK_SECRET: OLD, "AI_CS_POSTGRES_DSN": DSN}
    assert parse_env(render_env(values, "title")) == values


def test_a_value_with_a_line_break_is_refused():
    with pytest.raises(StepError, match="line break"):
        render_env({WEBHOOK_SECRET: "a\nAI_CS_ENV=development"}, "title")


def test_a_fresh_host_gets_the_vaults_secrets_staged_in_a_private_directory(host):
    result = stage(host)
    assert result["staged"] and result["changed"] and result["rotation"] == "none"
    assert staged(host) == {"AI_CS_POSTGRES_DSN": DSN, WEBHOOK_SECRET: NEW}
    assert Path(host.secrets_file + ".next").stat().st_mode & 0o777 == 0o600
    assert Path(host.secrets_file).parent.stat().st_mode & 0o777 == 0o700


def test_secrets_that_serve_already_stage_nothing_and_a_stale_staged_file_goes(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW)
    Path(host.secrets_file + ".next").write_text("left by a killed run")
    result = stage(host)
    assert not result["staged"] and result["changed"] and staged(host) is None
    assert stage(host) == {"staged": False, "changed": False, "rotation": "none", "rotation_until": 0}


def test_a_header_or_quoting_of_its_own_is_no_change(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW)
    text = Path(host.secrets_file).read_text().replace("# serving", "# Ansible managed: written by a template")
    Path(host.secrets_file).write_text(text)
    assert not stage(host)["staged"]


def test_a_rotation_keeps_the_served_secret_as_previous_until_the_window_closes(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=OLD)
    result = stage(host, window=600)
    assert result == {"staged": True, "changed": True, "rotation": "opened", "rotation_until": NOW + 600}
    assert staged(host)[PREVIOUS_SECRET] == OLD and staged(host)[PREVIOUS_UNTIL] == str(NOW + 600)
    assert staged(host)[WEBHOOK_SECRET] == NEW


def test_a_rotation_without_a_window_refuses_the_old_secret_at_once(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=OLD)
    result = stage(host, window=0)
    assert result["rotation"] == "none" and PREVIOUS_SECRET not in staged(host)


def test_an_open_window_is_kept_as_it_is_by_a_later_run(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW, AI_CS_WEBHOOK_SECRET_PREVIOUS=OLD,
            AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(NOW + 100))  # fmt: skip
    result = stage(host, now=NOW + 50)
    assert result == {"staged": False, "changed": False, "rotation": "open", "rotation_until": NOW + 100}


def test_a_closed_window_takes_the_previous_secret_off_the_host(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW, AI_CS_WEBHOOK_SECRET_PREVIOUS=OLD,
            AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(NOW - 1))  # fmt: skip
    result = stage(host)
    assert result["staged"] and result["rotation"] == "closed"
    assert staged(host) == {"AI_CS_POSTGRES_DSN": DSN, WEBHOOK_SECRET: NEW}


def test_a_window_of_zero_closes_an_open_one(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW, AI_CS_WEBHOOK_SECRET_PREVIOUS=OLD,
            AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(NOW + 100))  # fmt: skip
    assert stage(host, window=0)["rotation"] == "closed" and PREVIOUS_SECRET not in staged(host)


def test_a_second_rotation_in_an_open_window_keeps_the_secret_that_served_last(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW, AI_CS_WEBHOOK_SECRET_PREVIOUS=OLD,
            AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(NOW + 100))  # fmt: skip
    stage(host, secret="third/+=@%")
    assert staged(host)[PREVIOUS_SECRET] == NEW and staged(host)[PREVIOUS_UNTIL] == str(NOW + 3600)


def test_going_back_to_the_previous_secret_in_its_window_needs_no_window(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=NEW, AI_CS_WEBHOOK_SECRET_PREVIOUS=OLD,
            AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(NOW + 100))  # fmt: skip
    stage(host, secret=OLD)
    assert staged(host)[PREVIOUS_SECRET] == NEW, "the secret it replaces is the one a window keeps"


def test_check_mode_says_what_it_would_stage_and_writes_nothing(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=OLD)
    result = stage(host, check=True)
    assert result["staged"] and result["rotation"] == "opened" and staged(host) is None


def test_a_window_beyond_seven_days_is_refused(host):
    with pytest.raises(StepError, match="out of range"):
        stage(host, window=7 * 24 * 3600 + 1)


def test_keeping_what_serves_stages_nothing_and_removes_a_staged_file(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=OLD)
    Path(host.secrets_file + ".next").write_text("the vault's, staged by an earlier run")
    result = stage_secrets(host, None, 3600, NOW, False)
    assert not result["staged"] and result["changed"] and staged(host) is None


def test_the_replaced_secrets_are_kept_for_their_retention_and_removed_after(host):
    serving(host, AI_CS_POSTGRES_DSN=DSN, AI_CS_WEBHOOK_SECRET=OLD)
    Path(host.secrets_file + ".next").write_text(render_env({WEBHOOK_SECRET: NEW}, "staged"))
    os.utime(host.secrets_file, (1, 1))  # staged long ago: the retention counts from the replacement, not from this
    swap_secrets = put_file(host.secrets_file + ".next", host.secrets_file, keep=".previous", move=True)
    assert swap_secrets and parse_env(Path(host.secrets_file + ".previous").read_text())[WEBHOOK_SECRET] == OLD
    since = Path(host.secrets_file + ".previous").stat().st_mtime
    assert abs(since - time.time()) < 60, "kept now, not when it was staged"
    assert expire_kept_secrets(host, 86400, int(since) + 100, False) == []
    assert Path(host.secrets_file + ".previous").exists()
    assert expire_kept_secrets(host, 86400, int(since) + 86401, True) == [".previous"], "check mode says it"
    assert Path(host.secrets_file + ".previous").exists(), "and removes nothing"
    assert expire_kept_secrets(host, 86400, int(since) + 86401, False) == [".previous"]
    assert not Path(host.secrets_file + ".previous").exists()
