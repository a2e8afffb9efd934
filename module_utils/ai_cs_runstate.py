# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's own state on the controller: what the pipeline's steps hand to each other, out of Ansible's variables.

Extra vars outrank every other variable, facts and registered results included, so a decision passed from step to
step in a variable can be steered from the command line. The pipeline's action plugins keep what they decide (the
run, the request, the plan) in a directory of this ansible-playbook run instead. Callback ai_cs_run makes it in the
controller process before any worker is forked and names it in AI_CS_RUN_DIR, which every worker inherits; ansible
removes it with its own temporary directory when the run ends. Where that callback is not loaded (ansible-runner,
so ansible-navigator and AWX, set ANSIBLE_CALLBACK_PLUGINS to their own directory, which outranks ansible.cfg), the
directory is the controller process's own: every action plugin runs in a worker forked from it, so the workers of
one run find the same one, named by the controller's pid and start time (never another run's), in a directory of
this user's; those of runs that ended are removed when a run makes its own. Nothing given with -e reaches it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

ENV = "AI_CS_RUN_DIR"


class NoRunStateError(RuntimeError):
    """The run has no state directory."""


def _started(pid: int) -> str:
    """The process' start time (clock ticks since boot, /proc/<pid>/stat field 22): a pid reused later differs."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def controller_dir(create: bool) -> str:
    """The state directory of the run whose controller forked this worker ('' when it has none and create is
    false). Its parent is this user's, 0700, in the system's temporary directory."""
    ppid = os.getppid()
    base = os.path.join(tempfile.gettempdir(), f"ai-cs-run-{os.getuid()}")
    path = os.path.join(base, f"{ppid}-{_started(ppid)}")
    if not create:
        return path if os.path.isdir(path) else ""
    os.makedirs(base, mode=0o700, exist_ok=True)
    st = os.lstat(base)
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise NoRunStateError(f"{base} is not this user's own directory (mode 0700); remove it and run again")
    if not os.path.isdir(path):
        for other in os.listdir(base):  # runs that ended: their controller is gone, or the pid is another's now
            pid, _dash, started = other.partition("-")
            if pid.isdigit() and other != os.path.basename(path) and _started(int(pid)) != started:
                shutil.rmtree(os.path.join(base, other), ignore_errors=True)
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


class RunState:
    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def current(cls) -> RunState:
        """The run's state directory, made by the first step that needs it when the callback did not."""
        path = os.environ.get(ENV, "")
        if path and not os.path.isdir(path):
            raise NoRunStateError(f"{ENV} names {path}, which is not a directory (fix: unset {ENV})")
        return cls(path or controller_dir(create=True))

    @classmethod
    def find(cls) -> RunState | None:
        """The run's state directory if a step made it, else None."""
        path = os.environ.get(ENV, "") or controller_dir(create=False)
        return cls(path) if path and os.path.isdir(path) else None

    def _file(self, name: str) -> str:
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or name.startswith("."):
            raise ValueError(f"not a state name: {name!r}")
        return os.path.join(self.path, f"{name}.json")

    def write(self, name: str, data: Any) -> None:
        """Replace one record atomically (written beside it, then renamed: a reader never sees half of it)."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, sort_keys=True)
            os.replace(tmp, self._file(name))
        except BaseException:
            os.unlink(tmp)
            raise

    def read(self, name: str) -> Any:
        """One record; KeyError when no step wrote it in this run."""
        try:
            with open(self._file(name), encoding="utf-8") as src:
                return json.load(src)
        except FileNotFoundError:
            raise KeyError(name) from None

    def has(self, name: str) -> bool:
        return os.path.exists(self._file(name))
