"""Make module_utils importable as ansible.module_utils.* for unit tests, as Ansible does at run time."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parent.parent
for path in sorted((ROOT / "module_utils").glob("*.py")):
    name = f"ansible.module_utils.{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        setattr(ansible.module_utils, path.stem, module)
