"""The lock file left by the side effect is Bob's: nobody else's release removed it."""

import json

testinfra_hosts = ["molecule-deploy_lock"]


def test_lock_still_held_by_its_owner(host):
    lock = host.file("/var/lib/ai-customer-service/deploy.lock")
    assert lock.exists
    holder = json.loads(lock.content_string)
    assert holder["run_id"] == "run-b" and holder["who"] == "bob@ctl"
