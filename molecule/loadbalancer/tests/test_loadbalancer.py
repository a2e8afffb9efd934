"""haproxy in front of a real backend: health-checked routing, and drain/enable over the runtime API."""

import time

testinfra_hosts = ["molecule-loadbalancer"]

ADMIN = "echo '{cmd}' | socat stdio /run/haproxy/admin.sock"


def journal(host):
    return host.run("journalctl -u haproxy -n 40 --no-pager").stdout


def status(host):
    return host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/ready").stdout


def wait_status(host, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status(host) == want:
            return True
        time.sleep(0.3)
    return False


def test_haproxy_runs_with_a_valid_config(host):
    assert host.service("haproxy").is_running, journal(host)
    assert host.service("haproxy").is_enabled
    assert host.run("haproxy -c -f /etc/haproxy/haproxy.cfg").rc == 0


def test_routes_to_the_healthy_backend(host):
    assert wait_status(host, "200"), journal(host)
    state = host.check_output(ADMIN.format(cmd="show servers state ai_cs_app"))
    assert " localhost " in state and " 2 " in state.splitlines()[-1]  # srv_op_state 2 = UP


def test_drain_and_enable_through_the_runtime_api(host):
    host.check_output(ADMIN.format(cmd="set server ai_cs_app/localhost state maint"))
    assert wait_status(host, "503"), "a drained backend must get no traffic"
    host.check_output(ADMIN.format(cmd="set server ai_cs_app/localhost state ready"))
    assert wait_status(host, "200"), journal(host)


def test_backend_failing_its_health_check_gets_no_traffic(host):
    host.check_output("systemctl stop fake-backend")
    try:
        assert wait_status(host, "503"), "haproxy kept routing to a dead backend"
    finally:
        host.run("systemd-run --unit=fake-backend python3 -m http.server 8090 --directory /srv/backend")
    assert wait_status(host, "200")


def test_a_server_taken_out_stays_out_across_a_reload(host):
    """A rolling switch drains a host through the runtime API; an haproxy reload meanwhile must not put it back."""
    host.check_output(ADMIN.format(cmd="set server ai_cs_app/localhost state maint"))
    assert wait_status(host, "503")
    try:
        host.check_output("systemctl reload haproxy")
        time.sleep(2)  # the new worker has taken over and run its health checks
        assert status(host) == "503", "the reload put a drained server back in rotation"
        saved = host.check_output("cat /var/lib/haproxy/server-state").splitlines()
        assert any(" ai_cs_app " in line and " localhost " in line for line in saved), saved
    finally:
        host.check_output(ADMIN.format(cmd="set server ai_cs_app/localhost state ready"))
    assert wait_status(host, "200"), journal(host)
