# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's own state on the controller: what the pipeline's steps hand to each other, out of Ansible's variables.

Extra vars outrank every other variable, facts and registered results included, so a decision passed from step to
step in a variable can be steered from the command line. The pipeline's action plugins keep what they decide (the
run, the request, later the plan) in a directory of this ansible-playbook run instead: callback ai_cs_run makes it
in the controller process before any worker is forked and names it in AI_CS_RUN_DIR, which every worker inherits;
ansible removes it with its own temporary directory when the run ends. Nothing given with -e reaches it.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

ENV = "AI_CS_RUN_DIR"


class NoRunStateError(RuntimeError):
    """The run has no state directory: its callback did not start it."""


class RunState:
    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def current(cls) -> RunState:
        path = os.environ.get(ENV, "")
        if not path or not os.path.isdir(path):
            raise NoRunStateError(
                "this run has no state directory (cause: callback ai_cs_run did not start it: the project's "
                "callback_plugins are not configured, or the playbook runs outside this project's ansible.cfg; "
                "fix: run from the project root, or set ANSIBLE_CALLBACK_PLUGINS to its callback_plugins)"
            )
        return cls(path)

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
