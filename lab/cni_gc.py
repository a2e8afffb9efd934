#!/usr/bin/env python3
"""Remove the nat rules CNI left behind for containers of one podman network that no longer exist.

When a container's network teardown fails (the DNS plugin was removed while it ran, the machine lost power ...),
CNI's port forwards stay in the nat table and send the published port to an address that is gone, ahead of the
live container's rule. Only rules whose CNI comment names this network and a container id that podman does not
know are removed; the rules of every other network and of running containers stay. Prints each rule removed.

    cni_gc.py NETWORK
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

# iptables -S quotes the comment, escaping its own quotes: name: \"NET\" id: \"ID\"
COMMENT = re.compile(r'name: \\?"(?P<network>[^"\\]+)\\?" id: \\?"(?P<id>[0-9a-f]{64})')


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main(network: str) -> int:
    known = set(run("podman", "ps", "--all", "--no-trunc", "--quiet").split())
    for line in run("iptables", "-t", "nat", "-S").splitlines():
        found = COMMENT.search(line)
        if not line.startswith("-A ") or not found or found["network"] != network or found["id"] in known:
            continue
        rule = shlex.split(line)
        run("iptables", "-t", "nat", "-D", *rule[1:])
        print(f"removed: {line}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
