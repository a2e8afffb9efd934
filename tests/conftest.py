"""Make module_utils importable as ansible.module_utils.* for unit tests, as Ansible does at run time."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE_UTILS = ROOT / "module_utils"


class ProjectModuleUtils(importlib.abc.MetaPathFinder):
    """ansible.module_utils.<name> from the project's module_utils/<name>.py (they import each other so)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix == "ansible.module_utils" and (MODULE_UTILS / f"{name}.py").is_file():
            return importlib.util.spec_from_file_location(fullname, MODULE_UTILS / f"{name}.py")
        return None


sys.meta_path.insert(0, ProjectModuleUtils())
