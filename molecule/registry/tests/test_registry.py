"""The registry serves TLS only, to its accounts, and holds every release image under its tag by the digest
IMAGE-DIGESTS lists; a tag pushed over is put back by the publisher. The pull account reads from the read-only
instance and can neither push nor delete anywhere; deletes are off for the publisher too."""

import hashlib
import os
import shlex
from pathlib import Path

testinfra_hosts = ["molecule-registry"]
ADDRESS = "molecule-registry:5000"
PULL = "molecule-registry:5001"
SECRETS = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "build" / "molecule-registry-ca"
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


def account(name: str) -> str:
    return shlex.quote(f"{name}:{(SECRETS / name).read_text().strip()}")


def test_tls_only_and_every_request_authenticated(host):
    for address in (ADDRESS, PULL):
        port = address.split(":")[1]
        assert status(host, f"http://127.0.0.1:{port}/v2/") == "400"  # plain HTTP to a TLS port
        assert status(host, f"https://{address}/v2/") == "000"  # not trusted without the CA
        assert status(host, "--cacert", CA, f"https://{address}/v2/") == "401"
        assert status(host, "--cacert", CA, "-u", "puller:wrong", f"https://{address}/v2/") == "401"


def test_the_pull_account_pulls_from_the_read_only_instance_and_nowhere_else(host):
    digest = listed(host)["v1.1.0"]
    manifest = f"https://{PULL}/v2/ai-customer-service/manifests/{digest}"
    accept = "-H 'Accept: application/vnd.oci.image.manifest.v1+json'"
    assert status(host, "--cacert", CA, "-u", account("puller"), accept, manifest) == "200"
    assert status(host, "--cacert", CA, "-u", account("puller"), f"https://{ADDRESS}/v2/") == "401"
    assert status(host, "--cacert", CA, "-u", account("publisher"), f"https://{PULL}/v2/") == "401"


def test_the_pull_account_can_neither_push_nor_delete(host):
    digest = listed(host)["v1.1.0"]
    for address, refused in ((PULL, "405"), (ADDRESS, "401")):
        upload = f"https://{address}/v2/ai-customer-service/blobs/uploads/"
        assert status(host, "--cacert", CA, "-u", account("puller"), "-X POST", upload) == refused, address
        manifest = f"https://{address}/v2/ai-customer-service/manifests/{digest}"
        assert status(host, "--cacert", CA, "-u", account("puller"), "-X DELETE", manifest) == refused, address
    # a whole push, as podman or skopeo would make it
    push = host.run(
        f"skopeo copy --quiet --dest-cert-dir /etc/containers/certs.d/{ADDRESS} --dest-creds {account('puller')} "
        "oci:/srv/images:v1.0.0 "
        f"docker://{PULL}/ai-customer-service:pushed-by-puller"
    )
    assert push.rc != 0 and "405, method not allowed" in push.stderr.lower(), push.stderr
    assert listed(host)["v1.1.0"] == held(host, "v1.1.0"), "nothing the puller did changed a tag"


def test_deleting_is_off_for_the_publisher_too(host):
    manifest = f"https://{ADDRESS}/v2/ai-customer-service/manifests/{listed(host)['v1.0.0']}"
    assert status(host, "--cacert", CA, "-u", account("publisher"), "-X DELETE", manifest) == "405"
    assert held(host, "v1.0.0") == listed(host)["v1.0.0"]


def test_accounts_are_bcrypt_and_the_key_is_not_world_readable(host):
    entries = host.file("/etc/docker/registry/htpasswd").content_string.splitlines()
    assert [e.split(":", 1)[0] for e in entries] == ["publisher"]
    pulls = host.file("/etc/docker/registry/htpasswd-pull").content_string.splitlines()
    assert [e.split(":", 1)[0] for e in pulls] == ["puller"]
    assert all(e.split(":", 1)[1].startswith("$2") for e in entries + pulls)
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
