# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which hosts the provisioning roles can serve (playbooks/site.yml asks before it changes any host).

The roles install Debian's packages with apt (postgresql-15, haproxy, prometheus, ...), run everything as systemd
units (timers, drop-ins, systemctl), and were tested on Debian 12; Ubuntu 24.04 ships the same or newer (systemd,
haproxy, Prometheus; its PostgreSQL is 16: postgresql_version). A host is read from the facts Ansible gathered
(subset min): os_family, distribution, distribution_major_version, pkg_mgr, service_mgr, and whether the host's
Python imports apt_pkg (python3-apt, read by a command: no fact says it). Each problem is one line in the runbook's
form: symptom, cause, fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# distribution -> the oldest major release the roles' packages and units were written for
SUPPORTED = {"Debian": 12, "Ubuntu": 24}
_SUPPORTED_TEXT = "Debian 12 or newer, or Ubuntu 24.04 or newer"


def _version(facts: Mapping[str, Any]) -> int | None:
    try:
        return int(str(facts.get("distribution_major_version", "")).split(".", maxsplit=1)[0])
    except ValueError:
        return None


def problems(facts: Mapping[str, Any], python_apt: bool | None = None) -> list[str]:
    """What keeps the roles from serving this host ([] when nothing does), from its gathered facts and whether its
    Python has python3-apt (None: not asked)."""
    found = []
    name = f"{facts.get('distribution', 'an unknown system')} {facts.get('distribution_version', '')}".strip()
    family, pkg_mgr, distribution = facts.get("os_family"), facts.get("pkg_mgr"), facts.get("distribution")
    version = _version(facts)  # None for Debian testing and sid ("n/a"): newer than any release
    if family != "Debian" or pkg_mgr != "apt":
        what = "has no apt" if family == "Debian" else "is not apt-based: not of the Debian family"
        found.append(
            f"{name} {what} (os family {family or 'unknown'}, package manager {pkg_mgr or 'unknown'}). "
            "Cause: the roles install Debian's packages with apt. "
            f"Fix: provision it as {_SUPPORTED_TEXT}, or leave it out of the inventory's groups."
        )
    elif distribution not in SUPPORTED:
        found.append(
            f"{name} is of the Debian family but not Debian or Ubuntu. Cause: the roles name Debian's packages and "
            f"were tested on Debian 12; a derivative's may differ. Fix: {_SUPPORTED_TEXT}."
        )
    elif version is not None and version < SUPPORTED[distribution]:
        found.append(
            f"{name} is too old. Cause: the roles' units and settings need what Debian 12 ships (systemd 252, "
            f"haproxy 2.6, Prometheus 2.42) or newer. Fix: upgrade it to {_SUPPORTED_TEXT}, or provision a new host."
        )
    elif python_apt is False:
        found.append(
            f"python3-apt is missing ({facts.get('python', {}).get('executable', 'python3')} cannot import apt_pkg). "
            "Cause: Ansible's apt module reads and installs packages through it, and --check cannot tell what would "
            "be installed without it. Fix: apt-get install python3-apt on the host (Debian's cloud images have it), "
            "then run site.yml again."
        )
    service_mgr = facts.get("service_mgr")
    if service_mgr != "systemd":
        found.append(
            f"systemd is missing: the service manager is {service_mgr or 'unknown'}. Cause: every service here is a "
            "systemd unit (with timers and drop-ins). Fix: a host booted with systemd as PID 1 (a container: with "
            "systemd as its init)."
        )
    return found
