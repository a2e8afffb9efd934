"""The self-healing strategy table (monitoring/self-healing.yml) names alerts that exist and code that exists."""

from __future__ import annotations

import yaml
from monitoring_util import ROOT, render

TABLE = yaml.safe_load((ROOT / "monitoring" / "self-healing.yml").read_text())
RULES = yaml.safe_load(render("ai-customer-service.rules.yml.j2"))
ALERTS = {r["alert"] for group in RULES["groups"] for r in group["rules"] if "alert" in r}


def test_every_row_is_complete_and_names_a_real_alert_and_implementation():
    assert len(TABLE) >= 5
    for row in TABLE:
        assert set(row) == {"failure", "detection", "action", "implemented_by", "alert", "person"}, row
        assert row["alert"] in ALERTS, row["alert"]
        assert (ROOT / row["implemented_by"]).is_file(), row["implemented_by"]


def test_the_units_restart_policy_is_what_the_table_says():
    binary = ROOT / TABLE[0]["implemented_by"]
    image = binary.with_name(binary.name.replace(".binary.", ".image."))  # image mode's unit heals the same way
    for unit in (binary.read_text(), image.read_text()):
        assert "Restart=on-failure" in unit and "RestartSec=2" in unit
        assert "StartLimitBurst=5" in unit and "StartLimitIntervalSec=60" in unit
