# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab inventory: a YAML inventory whose app group is the lab's app hosts as the lab records them.

The lab runs 1-16 app hosts (AI_CS_LAB_APP_HOSTS, make bench); playbooks/lab.yml writes their names to a record
beside the lab's ssh config, and this plugin reads it, so haproxy, monitoring and every playbook follow the lab
that is up. With no record (no lab yet), the app hosts the file lists stay. It also points ssh at the lab's ssh
config by its path, as a plain value: a template there (-F {{ inventory_dir }}/...) is compiled again for every task
on every host, about 8 ms of the controller's time each (a rollback on 2 hosts runs about 300 such host tasks).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import MutableMapping

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory.yaml import InventoryModule as YamlInventory

DOCUMENTATION = r"""
name: ai_cs_lab
short_description: The lab's YAML inventory, its app group as the lab records it
description:
  - The file is a YAML inventory (as ansible.builtin.yaml reads) with two keys of its own, C(plugin) and
    C(lab_record).
  - When the record exists, the group C(app) holds exactly the host names its C(app_hosts) lists (the hosts the
    file lists there are replaced); without it, the file's own app hosts stay.
options:
  plugin:
    description: This plugin's name.
    required: true
    choices: [ai_cs_lab]
  lab_record:
    description: >-
      The lab's record, JSON with the key C(app_hosts) (a list of host names), relative to the inventory file.
    type: str
    default: ../../build/lab-ssh/lab.json
  ssh_config:
    description: >-
      The lab's ssh config (addresses, key, known hosts, ControlMaster), relative to the inventory file; the group
      C(all) gets C(ansible_ssh_args) C(-F <its path>) unless the file sets C(ansible_ssh_args) itself.
    type: str
    default: ../../build/lab-ssh/config
  yaml_extensions:
    description: File name endings read as this inventory.
    type: list
    elements: str
    default: [.yml, .yaml]
"""

OWN_KEYS = ("plugin", "lab_record", "ssh_config")


class InventoryModule(YamlInventory):
    NAME = "ai_cs_lab"

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        try:
            with open(path, encoding="utf-8") as handle:
                return any(line.strip() in (f"plugin: {self.NAME}", f"plugin: ai_cs.{self.NAME}") for line in handle)
        except OSError:
            return False

    def parse(self, inventory, loader, path, cache=True):
        # The yaml plugin's parse, minus its refusal of a file with a plugin key.
        super(YamlInventory, self).parse(inventory, loader, path)  # pylint: disable=bad-super-call
        try:
            data = self.loader.load_from_file(path, cache="none", trusted_as_template=True)
        except Exception as e:
            raise AnsibleParserError(e) from e
        if not isinstance(data, MutableMapping) or data.get("plugin") != self.NAME:
            raise AnsibleParserError(f"{path}: not an {self.NAME} inventory (it needs plugin: {self.NAME})")
        self.set_options(direct={key: data.pop(key) for key in OWN_KEYS if key in data})
        here = os.path.dirname(os.path.abspath(path))
        record = os.path.join(os.path.dirname(path), self.get_option("lab_record"))

        apps = self._recorded_app_hosts(record)
        if apps is not None:
            app = data.setdefault("all", {}).setdefault("children", {}).setdefault("app", {}) or {}
            app["hosts"] = dict.fromkeys(apps)
            data["all"]["children"]["app"] = app
        for group_name in data:
            self._parse_group(group_name, data[group_name])
        if "ansible_ssh_args" not in self.inventory.groups["all"].vars:
            ssh_config = os.path.join(here, self.get_option("ssh_config"))
            self.inventory.set_variable("all", "ansible_ssh_args", f"-F {shlex.quote(ssh_config)}")

    @staticmethod
    def _recorded_app_hosts(record: str) -> list[str] | None:
        try:
            with open(record, encoding="utf-8") as handle:
                apps = json.load(handle)["app_hosts"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AnsibleParserError(
                f"the lab record {record} is unreadable ({e}). Cause: a lab run stopped while writing it, or it was "
                "edited. Fix: make lab (it writes the record again), or remove the file to use the inventory's own "
                "app hosts."
            ) from e
        if not isinstance(apps, list) or not apps or not all(isinstance(a, str) and a for a in apps):
            raise AnsibleParserError(
                f"the lab record {record} lists no app hosts (app_hosts: {apps!r}). Cause: it was edited. "
                "Fix: make lab (it writes the record again)."
            )
        return apps
