# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Show every deprecation warning but the ones this project has named and justified (NAMED)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ai_cs_deprecations
type: aggregate
short_description: Keep deprecation warnings on, except the ones the project has named and justified
description:
  - ansible.cfg sets deprecation_warnings true, so a deprecation in what the playbooks use is seen when it appears.
    This leaves out only the warnings listed in NAMED, each with the reason the project accepts it; any other
    deprecation is shown as ansible-core shows it.
  - Named now is one, ansible-core's warning that strategy plugins from outside ansible.builtin carry no
    compatibility guarantee. The project runs Mitogen's strategy (ansible.cfg) for its speed, pinned with
    ansible-core in requirements.txt, and the tests run on that pin; the warning would print at the top of every run
    and teach an operator nothing they can act on.
requirements:
  - enable in callbacks_enabled (ansible.cfg)
"""

from typing import Any

from ansible.plugins.callback import CallbackBase
from ansible.utils.display import Display

# The start of each deprecation message this project accepts, and why (docs/operations.md repeats it).
NAMED = {
    "Use of strategy plugins not included in ansible.builtin are deprecated": (
        "the Mitogen strategy (ansible.cfg), pinned with ansible-core; tested on that pin"
    ),
}


def named(message: str) -> bool:
    """Whether a deprecation message is one the project has named (NAMED)."""
    return any(message.startswith(start) for start in NAMED)


def filtered(show: Any) -> Any:
    """Display._deprecated, leaving out the named deprecations."""

    def _deprecated(warning: Any) -> None:
        event = getattr(warning, "event", None)
        if event is not None and named(str(getattr(event, "msg", ""))):
            return
        show(warning)

    _deprecated.ai_cs_filtered = True  # type: ignore[attr-defined]
    return _deprecated


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ai_cs_deprecations"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Callbacks load before the play's strategy does (TaskQueueManager.run), so its warning passes through here.
        display = Display()
        if not getattr(display._deprecated, "ai_cs_filtered", False):
            display._deprecated = filtered(display._deprecated)  # type: ignore[method-assign]
