"""docs/runbook.md is what scripts/runbook_doc.py makes of the runbook rows and the alert rules (not stale), and
every alert's runbook_url anchor is in it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("runbook_doc", ROOT / "scripts" / "runbook_doc.py")
runbook_doc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runbook_doc)


def test_the_document_is_current():
    assert (ROOT / "docs" / "runbook.md").read_text() == runbook_doc.render(), "run: python3 scripts/runbook_doc.py"


def test_every_alert_points_at_an_anchor_of_the_document():
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', (ROOT / "docs" / "runbook.md").read_text()))
    for rule in runbook_doc.alerts():
        assert rule["annotations"]["runbook_url"].rpartition("#")[2] in anchors, rule["alert"]
