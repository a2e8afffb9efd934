# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Warm the controller's template engine once, before ansible forks a worker for every task on every host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ai_cs_prefork
type: aggregate
short_description: Load the Jinja filters and tests and build the lexer once, in the controller, before any fork
description:
  - ansible-core runs each task on each host in a worker forked from the controller. A worker inherits what the
    controller has loaded, and loses what it loads itself when it exits. The controller seldom templates, so every
    worker loaded every filter and test plugin file and built the Jinja lexer again, about 10 ms of each task.
  - At the start of a playbook this loads them once in the controller, so the workers inherit them. It changes
    no result and prints nothing.
requirements:
  - enable in callbacks_enabled (ansible.cfg)
"""

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader
from ansible.template import Templar


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ai_cs_prefork"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook) -> None:
        list(filter_loader.all())
        list(test_loader.all())
        Templar(loader=playbook.get_loader()).template("{{ [1] | map('string') | select('truthy') | list }}")
