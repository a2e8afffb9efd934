"""A fleet of one app host (AI_CS_LAB_APP_HOSTS=1): by default (pipeline_drain_whole_fleet=false) the switch does not
drain the only server.

Draining it leaves haproxy nothing to send requests to for the whole switch (make bench's first runs: 776 of 5,682
requests failed, a 15.5 s outage, for an upgrade under 50 requests/s); restarting in place lets haproxy's retries cover
the restart. make test runs this module after the image-mode suite, on that suite's own lab (it shrinks the lab).
"""

from __future__ import annotations

import json

import pytest
from labutil import ROOT, current, playbook, print_times, run, under_load

pytestmark = pytest.mark.lab
APP = "ai-cs-app1"


@pytest.fixture(scope="module", autouse=True)
def one_app_host(fresh_lab):
    run("env", "AI_CS_LAB_APP_HOSTS=1", "ansible-playbook", "playbooks/lab.yml")
    assert json.loads((ROOT / "build/lab-ssh/lab.json").read_text())["app_hosts"] == [APP]
    if current(APP) != "releases/v1.0.0":
        playbook("deploy", version="v1.0.0")
    yield
    print_times("one app host: wall times")


def outage(load: dict) -> float:
    return sum(window["seconds"] for window in load["outage_windows"])


def test_not_draining_the_only_app_host_fails_fewer_requests_than_draining_it(tmp_path):
    """Side by side under the same load: the upgrade restarts in place (haproxy's retries cover a quick restart; a
    slow one costs the checks' fall and rise), the rollback drained anyway has nothing serving for its whole switch."""
    for directory in ("in-place", "drained"):
        (tmp_path / directory).mkdir()
    with under_load("upgrade, one app host, not drained", tmp_path / "in-place") as in_place:
        proc = playbook("deploy", version="v1.1.0")  # the default: in place
    said = " ".join(proc.stdout.split())
    assert f"{APP} switches without a drain: every app host is in this batch ({APP})" in said
    assert current(APP) == "releases/v1.1.0"

    with under_load("rollback, one app host, drained", tmp_path / "drained") as drained:
        proc = playbook("rollback", "-e", "pipeline_drain_whole_fleet=true", version="v1.0.0")
    assert "switches without a drain" not in proc.stdout
    assert current(APP) == "releases/v1.0.0"
    # drained, nothing serves while the only server is out of rotation: the outage the default avoids (haproxy's own
    # 503, and the service's in-flight bound, CS_SYS_5032, when the requests haproxy queued meanwhile arrive at once)
    causes = {*drained["failed_by_cause"]}
    assert drained["failed"] > 0 and "HTTP 503" in causes and causes <= {"HTTP 503", "HTTP 503 CS_SYS_5032"}, causes
    assert in_place["failed"] < drained["failed"] and outage(in_place) < outage(drained), (in_place, drained)


def test_a_bad_setting_is_refused_before_any_host_is_contacted():
    proc = playbook("deploy", "-e", "pipeline_drain_whole_fleet=maybe", check=False, version="v1.1.0")
    said = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and "pipeline_drain_whole_fleet takes true or false" in said
    assert "Nothing was changed" in said and current(APP) == "releases/v1.0.0"
