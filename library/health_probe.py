#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: probe health endpoints until each meets its expectation."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_probe
short_description: Probe HTTP health endpoints until each is healthy, within a deadline
description:
  - Probes one or more endpoints (C(/live), C(/ready), C(/actuator/health) or any URL) repeatedly until each meets
    its expectation, all within one overall I(timeout).
  - An expectation is a set of acceptable status codes, JSON fields that must hold given values (dotted paths such
    as C(components.postgres)), and optionally the version the answer must report.
  - On failure the message names each unhealthy endpoint with what was expected, what was last seen and the last
    body, so the operator sees the cause without another command.
  - Uses Ansible's own URL helpers; nothing needs installing on the target. Never changes anything.
version_added: "1.0.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  base_url:
    description: Prefix for endpoints given by I(path), for example C(http://127.0.0.1:8080).
    type: str
  endpoints:
    description: The endpoints to probe.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name used in results and messages. Defaults to the path or URL.
        type: str
      path:
        description: Path appended to I(base_url).
        type: str
      url:
        description: Full URL (instead of I(path)).
        type: str
      status:
        description: Acceptable status codes.
        type: list
        elements: int
        default: [200]
      json:
        description: 'Dotted JSON paths and the values they must hold, for example C({"components.postgres": "UP"}).'
        type: dict
        default: {}
      version:
        description: The version the answer must report at I(version_field).
        type: str
      version_field:
        description: Dotted JSON path of the reported version.
        type: str
        default: version
  timeout:
    description:
      - Overall seconds for all endpoints to become healthy.
      - C(0) probes each endpoint once, waiting up to I(request_timeout) for each answer (diagnostics).
    type: float
    default: 60
  interval:
    description: Seconds between rounds of probes.
    type: float
    default: 1
  request_timeout:
    description: Seconds to wait for one answer.
    type: float
    default: 5
  validate_certs:
    description: Verify TLS certificates for https URLs.
    type: bool
    default: true
notes:
  - Supports check mode (it only reads).
"""

EXAMPLES = r"""
- name: Wait for the new version to be live, ready and reporting its version
  health_probe:
    base_url: http://127.0.0.1:8080
    endpoints:
      - path: /live
      - path: /ready
        json: {status: UP, components.postgres: UP}
      - path: /actuator/health
        version: v1.1.0
    timeout: 60

- name: Check once, without waiting (diagnostics)
  health_probe:
    base_url: http://127.0.0.1:8080
    endpoints: [{path: /ready}]
    timeout: 0
  register: ready
  failed_when: false
"""

RETURN = r"""
healthy:
  description: True when every endpoint met its expectation.
  returned: always
  type: bool
elapsed:
  description: Seconds the whole probe took.
  returned: always
  type: float
endpoints:
  description: Per endpoint name, the final observation.
  returned: always
  type: dict
  contains:
    url: {description: URL probed., type: str, returned: always}
    healthy: {description: Whether it met the expectation., type: bool, returned: always}
    status: {description: Last status code (null when no answer)., type: int, returned: always}
    latency_ms: {description: Latency of the last probe., type: float, returned: always}
    body: {description: "Last answer, parsed when JSON.", type: raw, returned: always}
    attempts: {description: Probes sent., type: int, returned: always}
    time_to_healthy: {description: Seconds until it was healthy (null if never)., type: float, returned: always}
    problem: {description: "Expected vs last seen, when unhealthy.", type: str, returned: always}
    server_time:
      description:
        - The server's clock in epoch seconds, from the answer's HTTP C(Date) header (1 s resolution); null
          without an answer or header. Minus I(probed_at), it is how far the service's clock is off this host's.
      type: float
      returned: always
    probed_at: {description: This host's clock (epoch seconds) at the last answer., type: float, returned: always}
  sample:
    /ready: {url: "http://127.0.0.1:8080/ready", healthy: true, status: 200, latency_ms: 3.1,
             body: {status: UP, components: {postgres: UP}}, attempts: 2, time_to_healthy: 1.02, problem: null}
"""

from ansible.module_utils.ai_cs_health import probe, unhealthy
from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    endpoint_spec = {
        "name": {"type": "str"},
        "path": {"type": "str"},
        "url": {"type": "str"},
        "status": {"type": "list", "elements": "int", "default": [200]},
        "json": {"type": "dict", "default": {}},
        "version": {"type": "str"},
        "version_field": {"type": "str", "default": "version"},
    }
    module = AnsibleModule(
        argument_spec={
            "base_url": {"type": "str"},
            "endpoints": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": endpoint_spec,
                "mutually_exclusive": [("path", "url")],
                "required_one_of": [("path", "url")],
            },
            "timeout": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 1},
            "request_timeout": {"type": "float", "default": 5},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not p["endpoints"]:
        module.fail_json(msg="endpoints is empty: give at least one endpoint to probe")
    specs = []
    for ep in p["endpoints"]:
        if ep["path"] is not None and not p["base_url"]:
            module.fail_json(msg=f"endpoint {ep['path']} is a path but base_url is not set")
        url = ep["url"] or p["base_url"].rstrip("/") + "/" + ep["path"].lstrip("/")
        specs.append({**ep, "url": url, "name": ep["name"] or ep["path"] or ep["url"]})
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"endpoint names must be unique, got {names}")

    healthy, state, elapsed = probe(
        specs,
        timeout=p["timeout"],
        interval=p["interval"],
        request_timeout=p["request_timeout"],
        validate_certs=p["validate_certs"],
    )
    result = {"changed": False, "healthy": healthy, "elapsed": elapsed, "endpoints": state}
    if not healthy:
        module.fail_json(msg=unhealthy(state, p["timeout"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
