"""make bench's arithmetic (bench/bench.py): batches, the floor, the costs per batch and per host measured apart, and
the report it writes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench", ROOT / "bench/bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
# the plot: matplotlib (and numpy) come with make setup (requirements.txt), not with a controller's make
# setup-controller, which leaves the bench out
needs_numpy = pytest.mark.skipif(
    importlib.util.find_spec("numpy") is None, reason="the bench plot needs numpy and matplotlib (make setup)"
)


@pytest.mark.parametrize(
    ("batch", "fleet", "sizes"),
    [("1", 4, [1, 1, 1, 1]), ("canary,25%", 1, [1]), ("canary,25%", 8, [1, 2, 2, 2, 1]), ("50%", 8, [4, 4]),
     ("canary,10%", 1000, [1] + [100] * 9 + [99])],
)  # fmt: skip
def test_batches_follow_the_pipelines_serial(batch, fleet, sizes):
    assert bench.batches(batch, fleet) == sizes


def synthetic(fixed: float = 20.0, per_batch: float = 6.0, per_host: float = 0.5) -> dict:
    """Runs whose upgrades (canary,25% and, as upgrade-b, canary,100%) take fixed + per_batch x batches + per_host x
    hosts, rollbacks and bare swaps half the upgrade's (3 reps each, spread +-1 s)."""
    runs = []
    for fleet in (1, 2, 4, 8):
        for operation in ("upgrade", "upgrade-b", "rollback", "bare-swap"):
            spec = "canary,100%" if operation == "upgrade-b" else "canary,25%"
            exact = fixed + per_batch * len(bench.batches(spec, fleet)) + per_host * fleet
            for rep, delta in enumerate((-1.0, 0.0, 1.0), 1):
                seconds = exact + delta if operation.startswith("upgrade") else (exact + delta) / 2
                load = {"requests": 100, "failed": 1 if operation == "bare-swap" else 0, "outage_seconds": 0.0}
                tasks = {"count": 100 + rep, "seconds": seconds, "slowest": [{"task": f"t{rep}", "seconds": 2.0}]}
                runs.append(
                    {
                        "hosts": fleet,
                        "operation": operation,
                        "rep": rep,
                        "seconds": seconds,
                        "load": load,
                        "tasks": tasks,
                    }
                )
    floor = {
        str(n): {"dump": 2.0, "restore_read": 1.0, "fetch": 0.5, "migration": 0.1, "ready": 1.5} for n in (1, 2, 4, 8)
    }
    return {
        "started": "2026-11-30T00:00:00+00:00",
        "machine": {"cores": 2, "cpu": "test", "loadavg_start": [0.5]},
        "settings": {"batch": "canary,25%", "batch_b": "canary,100%", "reps": 3, "rate": 50},
        "runs": runs,
        "floor": floor,
        "db_bytes": 200 << 20,
    }


def test_the_table_holds_each_cells_median_spread_and_failed_requests():
    table = bench.summarize(synthetic())
    assert table["upgrade"][8] == {**table["upgrade"][8], "median": 54.0, "min": 53.0, "max": 55.0}
    assert table["bare-swap"][2]["failed"] == 3 and table["bare-swap"][2]["req"] == 300


def test_the_cost_per_batch_is_the_two_settings_difference_at_one_fleet_over_their_batches():
    results = synthetic()
    # N=8: canary,25% in 5 batches (54 s), canary,100% in 2 (36 s): 18 s over 3 batches; the spread from 53-37, 55-35
    (median, low, high), how = bench.per_batch_cost(results, bench.summarize(results))
    assert (median, round(low, 3), round(high, 3)) == (6.0, 5.333, 6.667)
    assert how == "N=8: 5 batches against 2"


def test_the_cost_per_host_is_measured_between_fleets_switched_in_as_many_batches():
    results = synthetic()
    # canary,100%: N=2 and N=8 both in 2 batches (33 s, 36 s): 3 s over 6 hosts; the spread from 35-34, 37-32
    (median, low, high), how, start, fleet = bench.per_host_cost(results, bench.summarize(results))
    assert (median, round(low, 3), round(high, 3)) == (0.5, 0.167, 0.833)
    assert (start, fleet) == ("upgrade-b", 8) and "N=2 against N=8, as many batches" in how


def test_the_costs_are_not_given_without_a_second_batch_setting():
    results = synthetic()
    results["runs"] = [r for r in results["runs"] if r["operation"] != "upgrade-b"]
    table = bench.summarize(results)
    assert bench.per_batch_cost(results, table) is None
    # canary,25% switches 1, 2, 4, 8 hosts in 1, 2, 4, 5 batches: no two fleets in as many batches
    assert bench.per_host_cost(results, table) is None
    assert "not measured, no runs tell the cost per batch (two batch settings at one fleet size: --batch-b)" in "".join(
        bench.costs(results, table)
    )


def test_the_floor_counts_per_batch_steps_once_per_batch():
    results = synthetic()
    assert bench.floor_of(results, "upgrade", 8) == pytest.approx(2.0 + 1.0 + 0.5 + 0.1 + 1.5 * 5)
    assert bench.floor_of(results, "rollback", 4) == pytest.approx(1.5 * 4)
    assert bench.floor_of(results, "bare-swap", 8) == pytest.approx(0.5 + 1.5 * 8)  # one host at a time
    assert bench.floor_of(results, "diagnose", 2) is None


@needs_numpy
def test_the_report_writes_the_table_the_ratios_the_costs_and_the_plot(tmp_path):
    results = synthetic()
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert bench.main(["--report-only", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert "| deploy (upgrade) | **26.5** (25.5-27.5); 0/300 failed |" in text
    assert "Full deploy over the bare swap: N=1: 2.00x" in text
    assert (
        "- per batch: **6.0 s** (5.3 to 6.7), N=8: 5 batches against 2, the difference over the batches added" in text
    )
    assert "- per host: **0.50 s** (0.17 to 0.83), deploy (upgrade), --batch-b (canary,100%), N=2 against N=8" in text
    assert "**A bound, not a prediction**" in text
    assert "- deploy (upgrade): 33.0 s, 102 tasks. t2 2.0 s" in text  # N=2, the median run (rep 2)
    # 1000 hosts, canary,10%: 11 batches; from N=8 with canary,100% (36 s, 2 batches): 36 + 6 x 9 + 0.5 x 992 = 586 s;
    # low 35 + 5.33 x 9 + 0.167 x 992 = 248 s, high 37 + 6.67 x 9 + 0.833 x 992 = 924 s
    assert (
        "- 1000 app hosts, deploy_batch_size=canary,10% (11 batches, the largest 100 hosts): **9.8 min** (4.1 to 15.4)"
        in text
    )
    png = (tmp_path / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_bad_arguments_are_refused(capsys):
    for argv in (["--hosts", "0,2"], ["--hosts", "a"], ["--batch", "canary,0"], ["--reps", "0"]):
        with pytest.raises(SystemExit):
            bench.parse(argv)
    assert "--batch is a deploy_batch_size for every fleet size: deploy_batch_size must be" in capsys.readouterr().err


@needs_numpy
def test_the_report_takes_the_canary_watch_out_and_compares_the_engines(tmp_path):
    results = synthetic()
    results["machine"].update(ansible_strategy="mitogen_linear", cpu_pressure_start={"avg10": 3.0, "avg300": 57.4})
    for run in [r for r in results["runs"] if r["operation"] in ("upgrade", "rollback") and r["hosts"] == 2]:
        if run["operation"] == "upgrade":  # 33 s median, of which 20 s watching the canary
            run["tasks"]["slowest"].append(
                {"task": "canary | Watch this batch's /metrics against ...", "seconds": 20.0}
            )
        if run["rep"] == 1:  # one run with the stock strategy, twice rep 1 (33 s median over 64 s)
            results["runs"].append({**run, "operation": run["operation"] + "-linear", "seconds": run["seconds"] * 2})
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert bench.main(["--report-only", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    # N=2: 33 - 20 = 13 s over its floor 2 + 1 + 0.5 + 0.1 + 1.5 x 2 = 6.6 s; N=1 (floor 5.1 s), no canary: 26.5 s
    assert "N=1: 26.5 s, 5.2x, N=2: 13.0 s, 2.0x" in text
    assert "load 0.5 at the start (runnable tasks waited for a core 57 % of the 5 min before);" in text
    assert "deploy (upgrade) N=2: 0.52x" in text and "rollback (code, on disk) N=2: 0.52x" in text
    assert "| deploy (upgrade), stock strategy |  | **64.0** (64.0-64.0, 1 run); 0/100 failed |  |  |" in text


@needs_numpy
def test_a_report_without_the_second_setting_says_the_costs_were_not_measured(tmp_path):
    results = synthetic()
    results["runs"] = [r for r in results["runs"] if r["operation"] != "upgrade-b"]
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert bench.main(["--report-only", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert "Costs per batch and per host: not measured" in text
    assert "app hosts, deploy_batch_size" not in text


def test_only_diagnoses_verdict_is_taken_as_a_finished_run():
    """failures() names each host's failed task; a diagnose that found failed checks is timed, anything else stops."""

    def document(*failed: tuple[str, str]) -> dict:
        tasks = [{"task": {"name": "diagnose : Probe /live"}, "hosts": {"app1": {"changed": False}}}]
        tasks += [{"task": {"name": n}, "hosts": {"ai-cs-app1": {"failed": True, "msg": m}}} for n, m in failed]
        return {"plays": [{"tasks": tasks}]}

    verdict = (bench.DIAGNOSE_VERDICT, "diagnose: 1 check(s) failed: ai-cs-app1 journal")
    assert bench.failures(document(verdict)) == [verdict]
    assert bench.failures(document()) == []
    broken = document(("diagnose : Ask PostgreSQL", "boom"), verdict)
    assert [task for task, _ in bench.failures(broken)] == ["diagnose : Ask PostgreSQL", bench.DIAGNOSE_VERDICT]
    # what playbook() decides with: the verdict's message when only the verdict failed, else None (the bench stops)
    assert bench.verdict_of(document(verdict), bench.DIAGNOSE_VERDICT) == verdict[1]
    assert bench.verdict_of(broken, bench.DIAGNOSE_VERDICT) is None
    assert bench.verdict_of(document(), bench.DIAGNOSE_VERDICT) is None
    assert bench.verdict_of(document(verdict), "") is None  # another playbook: any failure stops the bench
    assert bench.verdict_of(document(("", "an unnamed task failed")), "") is None
    assert bench.verdict_of(None, bench.DIAGNOSE_VERDICT) is None
    # the name the JSON callback gives diagnose's last task: "<role> : <task name>"
    role, task = bench.DIAGNOSE_VERDICT.split(" : ", 1)
    assert f"- name: {task}\n" in (ROOT / "roles" / role / "tasks/report.yml").read_text()


def diagnose_runs(*seconds_at_8: float) -> dict:
    results = synthetic()
    results["runs"] += [
        {
            "hosts": n,
            "operation": "diagnose",
            "rep": rep,
            "seconds": s,
            "load": {"requests": 10, "failed": 0, "outage_seconds": 0.0},
            "tasks": {"count": 26, "seconds": s, "slowest": [{"task": "diagnose : Probe", "seconds": 1.0}]},
        }
        for n, times in ((2, (8.0, 9.5)), (8, seconds_at_8))
        for rep, s in enumerate(times, 1)
    ]
    return results


def test_the_report_holds_diagnose_to_the_runbooks_60_seconds():
    lines, within = bench.diagnose_budget(diagnose_runs(33.8, 34.8))
    assert within
    assert lines[-1] == (
        "The 60-second diagnostic (runbook section 七), the slowest run at each fleet size: N=2: 9.5 s, N=8: 34.8 s; "
        "every run within 60 s."
    )


def test_one_diagnose_run_over_60_seconds_fails_the_bench():
    lines, within = bench.diagnose_budget(diagnose_runs(33.8, 60.2))
    assert not within
    assert lines[-1].endswith("N=8: 60.2 s; OVER 60 s at N=8: the bench fails.")


def test_a_bench_without_diagnose_runs_has_no_budget_to_miss():
    assert bench.diagnose_budget(synthetic()) == ([], True)


@needs_numpy
def test_the_bench_exits_1_when_diagnose_went_over_60_seconds(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(diagnose_runs(61.0)))
    assert bench.main(["--report-only", "--out", str(tmp_path)]) == 1
    assert "OVER 60 s at N=8" in (tmp_path / "results.md").read_text()


@needs_numpy
def test_the_plot_has_a_panel_per_operation_with_its_stock_strategy_runs_beside_it(tmp_path):
    results = synthetic()
    results["runs"] += [
        dict(run, operation="upgrade-linear") for run in results["runs"] if run["operation"] == "upgrade"
    ]
    table = bench.summarize(results)
    panels = bench.plot(results, table, [1, 2, 4, 8], tmp_path / "plot.png")
    assert panels == ["upgrade", "upgrade-b", "rollback", "bare-swap"]  # upgrade-linear drawn in upgrade's panel
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
