"""The run's state directory (module_utils/ai_cs_runstate.py): shared by the workers of one run, another run's never
seen, found without the callback too (ansible-runner, navigator and AWX load their own callbacks instead)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from ansible.module_utils import ai_cs_runstate
from ansible.module_utils.ai_cs_runstate import ENV, NoRunStateError, RunState, controller_dir


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv(ENV, raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again


def _worker(queue) -> None:  # a worker forked from this "controller", as ansible forks its workers
    state = RunState.current()
    queue.put(state.path)


def forked(target) -> str:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(queue,))
    proc.start()
    proc.join(30)
    return queue.get(timeout=5)


def test_workers_of_one_controller_share_its_directory():
    first, second = forked(_worker), forked(_worker)
    assert first == second and Path(first).is_dir()
    assert Path(first).name.startswith(f"{os.getpid()}-")
    assert oct(Path(first).parent.stat().st_mode & 0o777) == "0o700"


def _write_then_find(queue) -> None:
    RunState.current().write("request", {"version": "v1.1.0"})
    queue.put("written")


def _find(queue) -> None:
    state = RunState.find()
    queue.put(state.read("request") if state else None)


def test_what_one_worker_wrote_the_next_finds():
    assert forked(_write_then_find) == "written"
    assert forked(_find) == {"version": "v1.1.0"}


def _other_controller(queue) -> None:  # another run's controller: its own worker looks
    queue.put(forked(_find))


def test_another_controller_does_not_see_it():
    forked(_write_then_find)
    assert forked(_other_controller) is None


def test_directories_of_runs_that_ended_are_removed(tmp_path):
    base = tmp_path / f"ai-cs-run-{os.getuid()}"
    base.mkdir(mode=0o700)
    gone = base / "999999999-12345"  # no such pid
    gone.mkdir()
    (gone / "request.json").write_text("{}")
    path = forked(_worker)
    assert not gone.exists() and Path(path).is_dir()


def test_a_shared_parent_directory_is_refused(tmp_path):
    base = tmp_path / f"ai-cs-run-{os.getuid()}"
    base.mkdir()
    base.chmod(0o777)
    with pytest.raises(NoRunStateError, match="not this user's own directory"):
        controller_dir(create=True)


def test_the_callbacks_directory_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path))
    assert RunState.current().path == str(tmp_path) and RunState.find().path == str(tmp_path)


def test_a_named_directory_that_is_gone_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "gone"))
    with pytest.raises(NoRunStateError, match="not a directory"):
        RunState.current()
    assert ai_cs_runstate.RunState.find() is None
