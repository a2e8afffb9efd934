#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: sign (and optionally send) an ai-customer-service webhook call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: webhook_sign
short_description: Sign an ai-customer-service webhook body, and optionally send it
description:
  - Computes C(X-CS-Signature) as hex HMAC-SHA256(secret, "<timestamp>.<body>"), byte for byte what the runbook's
    C(echo -n "${TS}.${BODY}" | openssl dgst -sha256 -hmac "$SECRET") gives.
  - A mapping body is serialised deterministically (compact JSON, sorted keys, UTF-8) and returned as the exact
    string that was signed, so it can be sent unchanged.
  - With I(url), also sends the signed request and returns the status, the parsed answer and the rejection code
    (C(CS_AUTH_40xx)) when refused, so a smoke test is one task. I(signature) overrides the computed one and
    I(omit_signature) sends none, for tests that a wrong or missing signature is refused.
  - Signing alone touches no network and runs in check mode; sending is skipped in check mode.
version_added: "1.0.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  secret:
    description: The shared secret (C(AI_CS_WEBHOOK_SECRET)). Never returned or logged.
    type: str
    required: true
  body:
    description: The request body, a string sent as is, or a mapping serialised as compact sorted JSON.
    type: raw
    required: true
  timestamp:
    description: Unix seconds for C(X-CS-Timestamp). Defaults to now; an old value tests the skew check.
    type: int
  url:
    description: When set, POST the signed body to this URL (the service's webhook endpoint).
    type: str
  signature:
    description: Send this signature instead of the computed one (to test that a wrong one is refused).
    type: str
  omit_signature:
    description: Send no C(X-CS-Signature) header (to test that an unsigned call is refused).
    type: bool
    default: false
  replay:
    description:
      - After the first answer, send the same request again (the same bytes, timestamp and signature), as an upstream
        retry would, and return its answer as I(replay). The runbook's deduplication check, in the same task.
    type: bool
    default: false
  expected_status:
    description: Fail unless the answer (and the replay's) has one of these status codes. Empty means any is fine.
    type: list
    elements: int
    default: []
  timeout:
    description: Seconds to wait for the answer.
    type: float
    default: 10
  validate_certs:
    description: Verify TLS certificates for https URLs.
    type: bool
    default: true
notes:
  - Supports check mode; in check mode the request is not sent.
"""

EXAMPLES = r"""
- name: Sign the runbook's example body
  webhook_sign:
    secret: "{{ ai_cs_webhook_secret }}"
    body: '{"test":"payload"}'
  register: signed

- name: Smoke test through the service
  webhook_sign:
    secret: "{{ ai_cs_webhook_secret }}"
    url: http://127.0.0.1:8080/api/v1/customer-service/webhook
    body:
      channel: widget
      message_id: "smoke-{{ ansible_date_time.epoch }}"
      open_id: deploy-smoke
      content: health check
    expected_status: [200]

- name: A signed call, then its replay, which the service must take as a duplicate
  webhook_sign:
    secret: "{{ ai_cs_webhook_secret }}"
    url: http://127.0.0.1:8080/api/v1/customer-service/webhook
    body: {channel: widget, message_id: "smoke-1", open_id: x, content: x}
    replay: true
    expected_status: [200]
  register: call
  failed_when: call.replay.response.status | default('') != 'duplicate'

- name: An unsigned call must be refused with CS_AUTH_4031
  webhook_sign:
    secret: "{{ ai_cs_webhook_secret }}"
    url: http://127.0.0.1:8080/api/v1/customer-service/webhook
    body: {channel: widget, message_id: unsigned, open_id: x, content: x}
    omit_signature: true
    expected_status: [403]
  register: refused
  failed_when: refused.code != 'CS_AUTH_4031'
"""

RETURN = r"""
body:
  description: The exact string that was signed (and sent).
  returned: always
  type: str
  sample: '{"test":"payload"}'
timestamp:
  description: The timestamp used.
  returned: always
  type: int
signature:
  description: The hex signature that was computed (not the overriding I(signature)).
  returned: always
  type: str
headers:
  description: Headers to send with the body.
  returned: always
  type: dict
  sample: {"Content-Type": "application/json", "X-CS-Timestamp": "1714780800", "X-CS-Signature": "5f0c..."}
status:
  description: HTTP status of the answer; null when no answer came.
  returned: when url is set and not in check mode
  type: int
response:
  description: The answer's body, parsed when JSON.
  returned: when url is set and not in check mode
  type: raw
code:
  description: The rejection code from the answer (for example C(CS_AUTH_4034)), null when accepted.
  returned: when url is set and not in check mode
  type: str
latency_ms:
  description: Time to the answer in milliseconds.
  returned: when url is set and not in check mode
  type: float
replay:
  description: The replay's answer, with the same keys as the first (status, response, code, latency_ms).
  returned: when replay is set, url is set and not in check mode
  type: dict
  sample: {"status": 200, "response": {"status": "duplicate"}, "code": null, "latency_ms": 3.1}
"""

from ansible.module_utils.ai_cs_http import exchange
from ansible.module_utils.ai_cs_webhook import SIGNATURE_HEADER, canonical_body, rejection_code, signed_headers
from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "secret": {"type": "str", "required": True, "no_log": True},
            "body": {"type": "raw", "required": True},
            "timestamp": {"type": "int"},
            "url": {"type": "str"},
            "signature": {"type": "str"},
            "omit_signature": {"type": "bool", "default": False},
            "replay": {"type": "bool", "default": False},
            "expected_status": {"type": "list", "elements": "int", "default": []},
            "timeout": {"type": "float", "default": 10},
            "validate_certs": {"type": "bool", "default": True},
        },
        mutually_exclusive=[("signature", "omit_signature")],
        supports_check_mode=True,
    )
    p = module.params
    if not isinstance(p["body"], (str, dict, list)):
        module.fail_json(msg=f"body must be a string or a mapping, not {type(p['body']).__name__}")
    if not p["secret"]:
        module.fail_json(
            msg="secret is empty; cause: AI_CS_WEBHOOK_SECRET not set for this host; fix: set the vaulted secret"
        )
    body = canonical_body(p["body"])
    headers = signed_headers(p["secret"], body, p["timestamp"])
    result = {
        "changed": False,
        "body": body,
        "timestamp": int(headers["X-CS-Timestamp"]),
        "signature": headers[SIGNATURE_HEADER],
        "headers": dict(headers),
    }
    if not p["url"] or module.check_mode:
        module.exit_json(**result)

    send = dict(headers)
    if p["omit_signature"]:
        del send[SIGNATURE_HEADER]
    elif p["signature"] is not None:
        send[SIGNATURE_HEADER] = p["signature"]
    result.update(_send(module, body, send, result, replay=False))
    if p["replay"]:
        result["replay"] = _send(module, body, send, result, replay=True)
    module.exit_json(**result)


def _send(module: AnsibleModule, body: str, headers: dict[str, str], result: dict, replay: bool) -> dict:
    """POST the body once: its status, parsed answer, rejection code and latency; or fail with what came so far."""
    p = module.params
    what = "webhook replay POST" if replay else "webhook POST"
    answer = exchange(
        p["url"],
        method="POST",
        data=body.encode(),
        headers=headers,
        timeout=p["timeout"],
        validate_certs=p["validate_certs"],
    )
    got = {
        "status": answer.status,
        "response": answer.body,
        "code": rejection_code(answer.body),
        "latency_ms": answer.latency_ms,
    }
    so_far = {**result, **({"replay": got} if replay else got)}
    if answer.status is None:
        module.fail_json(
            msg=f"{what} {p['url']} got no answer: {answer.error}; cause: the service is not listening there "
            "or the network blocks it; fix: check the service is running and the address",
            **so_far,
        )
    if p["expected_status"] and answer.status not in p["expected_status"]:
        module.fail_json(
            msg=f"{what} {p['url']} answered {answer.status} ({got['code'] or 'no error code'}), expected "
            f"{p['expected_status']}; answer: {str(answer.body)[:300]}",
            **so_far,
        )
    return got


if __name__ == "__main__":
    main()
