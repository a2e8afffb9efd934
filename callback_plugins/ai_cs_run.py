# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Give each ansible-playbook run a state directory its action plugins share, out of reach of -e."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ai_cs_run
type: aggregate
short_description: Make the run's state directory (AI_CS_RUN_DIR) before any worker is forked
description:
  - The pipeline's action plugins (ai_cs_request, ...) hand what they decide to the later steps through files in a
    directory of this run, not through variables. Extra vars outrank facts and registered results, so a decision
    kept in a variable could be steered from the command line.
  - At the start of a playbook this makes the directory inside ansible's own temporary directory of this run (which
    ansible removes when the run ends) and names it in the environment variable AI_CS_RUN_DIR, which every worker
    inherits. A value the operator set is replaced.
  - Loaded without being listed in callbacks_enabled, wherever the project's callback_plugins are configured. Where
    they are not (ansible-runner, so ansible-navigator and AWX, set ANSIBLE_CALLBACK_PLUGINS to their own), the
    steps use the controller process' own directory instead (module_utils/ai_cs_runstate.py).
"""

import os

from ansible import constants
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ai_cs_run"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_start(self, playbook) -> None:
        # DEFAULT_LOCAL_TMP is made on first use, once per process: used here, in the controller before any fork, the
        # workers inherit this one instead of making their own.
        path = os.path.join(constants.DEFAULT_LOCAL_TMP, "ai-cs-run")
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.environ["AI_CS_RUN_DIR"] = path
