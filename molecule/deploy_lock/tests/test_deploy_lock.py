"""After the side effect the lock is Alice's, who took Bob's expired lease over: one row, in the database."""

testinfra_hosts = ["molecule-deploy_lock"]

QUERY = "SELECT run_id, owner->>'who', expires_at > now() FROM ai_cs_ops.deploy_lock"


def test_the_lock_is_one_row_held_by_the_run_that_took_it_over(host):
    out = host.check_output(
        f'PGPASSWORD=molecule-only-db-password psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service -tAc "{QUERY}"'
    )
    assert out.strip() == "run-a|alice@ctl|t"
