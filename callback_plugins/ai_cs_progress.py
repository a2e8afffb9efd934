# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Say that a long task is still running, and for how long, while it runs."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ai_cs_progress
type: aggregate
short_description: Print a line every interval while a task runs longer than that
description:
  - A task that waits (the canary's window, a drain, a switch waiting for /ready, a backup) prints nothing until it
    ends, so a run looks hung. While a task runs longer than the interval, this prints every interval how long it
    has run and what it is; the task's name says what it waits for and its bound (the canary's names the hosts and
    its window).
  - The timer stops when the next task starts, before ansible forks that task's workers, so no worker is forked while
    the timer prints.
  - The interval is 10 seconds; the environment variable AI_CS_PROGRESS_INTERVAL changes it (0 prints nothing).
requirements:
  - enable in callbacks_enabled (ansible.cfg)
"""

import os
import threading
import time
from typing import Any

from ansible.plugins.callback import CallbackBase


def line(name: str, seconds: float) -> str:
    """What is printed while a task runs."""
    return f"  ... still running after {seconds:.0f} s: {name}"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ai_cs_progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._interval = int(os.environ.get("AI_CS_PROGRESS_INTERVAL", "10") or 0)

    def _watch(self, name: str, stop: threading.Event) -> None:
        started = time.monotonic()
        while not stop.wait(self._interval):
            self._display.display(line(name, time.monotonic() - started))

    def _start(self, task: Any) -> None:
        self._end()
        if self._interval <= 0:
            return
        self._stop = threading.Event()
        name = task.get_name().strip()
        self._thread = threading.Thread(target=self._watch, args=(name, self._stop), daemon=True)
        self._thread.start()

    def _end(self, *_args: Any, **_kwargs: Any) -> None:
        if self._stop is not None and self._thread is not None:
            self._stop.set()
            self._thread.join()
        self._stop = self._thread = None

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._start(task)

    # the play's or the run's end: the last task of a play has no next one
    v2_playbook_on_play_start = _end
    v2_playbook_on_stats = _end
    v2_playbook_on_no_hosts_remaining = _end
