"""The project's collection, ai_cs.ops, importable as Ansible imports it at run time (its collection loader): from
collections/ (the sources, linked into the collection's layout), or from a built and installed copy when
AI_CS_COLLECTIONS names the directory that holds its ansible_collections/ (scripts/collection.sh test)."""

from __future__ import annotations

import os
from pathlib import Path

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = Path(os.environ.get("AI_CS_COLLECTIONS") or ROOT / "collections").resolve()
COLLECTION = COLLECTIONS / "ansible_collections" / "ai_cs" / "ops"

# What ansible-test units installs for a collection's tests: the finder, this collection's root first, then the
# packages on sys.path (the ansible package's collections: test_awx_config checks tasks against awx.awx's modules).
_AnsibleCollectionFinder(paths=[str(COLLECTIONS)], scan_sys_paths=True)._install()
