"""The registry serves TLS only, to its accounts, and holds every release image under its tag by the digest
IMAGE-DIGESTS lists; a tag pushed over is put back by the publisher."""

import hashlib

testinfra_hosts = ["molecule-registry"]
ADDRESS = "molecule-registry:5000"
CA = f"/etc/containers/certs.d/{ADDRESS}/ca.crt"
AUTH = "/etc/docker/registry/publish-auth.json"


def listed(host) -> dict[str, str]:
    lines = host.file("/srv/artifacts/IMAGE-DIGESTS").content_string.splitlines()
    return {ref.split(":", 1)[1]: digest for digest, ref in (line.split("  ") for line in lines)}


def held(host, tag: str) -> str:
    raw = host.run(f"skopeo inspect --raw --authfile {AUTH} docker://{ADDRESS}/ai-customer-service:{tag}")
    assert raw.rc == 0, raw.stderr
    return "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest()


def status(host, *curl: str) -> str:
    return host.run("curl -s -o /dev/null -w '%{http_code}' " + " ".join(curl)).stdout


def test_tls_only_and_every_request_authenticated(host):
    assert status(host, "http://127.0.0.1:5000/v2/") == "400"  # plain HTTP to a TLS port
    assert status(host, f"https://{ADDRESS}/v2/") == "000"  # not trusted without the CA
    assert status(host, "--cacert", CA, f"https://{ADDRESS}/v2/") == "401"
    assert status(host, "--cacert", CA, "-u", "puller:wrong", f"https://{ADDRESS}/v2/") == "401"


def test_accounts_are_bcrypt_and_the_key_is_not_world_readable(host):
    entries = host.file("/etc/docker/registry/htpasswd").content_string.splitlines()
    assert sorted(e.split(":", 1)[0] for e in entries) == ["publisher", "puller"]
    assert all(e.split(":", 1)[1].startswith("$2") for e in entries)
    key = host.file("/etc/docker/registry/tls.key")
    assert (key.mode, key.user, key.group) == (0o640, "root", "docker-registry")
    assert host.file(AUTH).mode == 0o600


def test_every_release_image_is_held_by_its_published_digest(host):
    digests = listed(host)
    assert len(digests) == 8
    for tag, digest in digests.items():
        assert held(host, tag) == digest, tag


def test_a_tag_pushed_over_is_put_back_by_the_next_publish(host):
    digests = listed(host)
    host.check_output(
        f"skopeo copy --quiet --authfile {AUTH} oci:/srv/images:v1.0.0 docker://{ADDRESS}/ai-customer-service:v1.1.0"
    )
    assert held(host, "v1.1.0") == digests["v1.0.0"]
    publish = "/usr/local/lib/ai-cs-publish-images /srv/images /srv/artifacts/IMAGE-DIGESTS"
    out = host.check_output(f"{publish} {ADDRESS} ai-customer-service {AUTH}")
    assert out.splitlines() == [f"published v1.1.0 {digests['v1.1.0']}"]
    assert held(host, "v1.1.0") == digests["v1.1.0"]
