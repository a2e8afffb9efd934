"""Release images: one OCI image per release, built from that release's tarball on the release base
(service/image/base.sh), written into one OCI image layout (build/images: oci-layout, index.json, blobs) and
listed by digest in IMAGE-DIGESTS beside SHA256SUMS.

Reproducible by construction: the image is the base's layers plus one layer made here from the tarball's
members (fixed order, owners, modes and timestamps, gzip without a name or time), a config and a manifest written
with sorted keys and a fixed creation time. The same tarball on the same base gives the same manifest digest,
whichever machine or run builds it, so the digest the deploy pulls by is known before any registry sees it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

IMAGE_NAME = "ai-customer-service"
# Inside the image: /opt/ai-customer-service/{ai-customer-service,VERSION,db/migration/} as in a release directory.
APP_DIR = "opt/ai-customer-service"
CREATED = "1970-01-01T00:00:00Z"
# The service needs no privileges in the container either: it runs as nobody, reads its files and talks TCP.
USER = "65534:65534"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DIGESTS_FILE = "IMAGE-DIGESTS"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """An OCI image layout directory: content-addressed blobs and an index of tagged manifests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def put(self, data: bytes, media_type: str) -> dict:
        digest = sha256(data)
        path = self.blob_path(digest)
        if not path.exists():
            tmp = path.with_name(path.name + ".partial")
            tmp.write_bytes(data)
            tmp.replace(path)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def read(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def index(self) -> dict:
        path = self.root / "index.json"
        return json.loads(path.read_text()) if path.exists() else {"schemaVersion": 2, "manifests": []}

    def write_index(self, manifests: list[dict]) -> None:
        manifests = sorted(manifests, key=lambda m: m["annotations"]["org.opencontainers.image.ref.name"])
        data = canonical({"schemaVersion": 2, "manifests": manifests})
        if (self.root / "index.json").exists() and (self.root / "index.json").read_bytes() == data:
            return
        tmp = self.root / "index.json.partial"
        tmp.write_bytes(data)
        tmp.replace(self.root / "index.json")

    def collect_garbage(self) -> None:
        """Removes the blobs no tagged manifest reaches (earlier builds' layers and configs)."""
        keep = set()
        for entry in self.index()["manifests"]:
            keep.add(entry["digest"])
            manifest = json.loads(self.read(entry["digest"]))
            keep.add(manifest["config"]["digest"])
            keep.update(layer["digest"] for layer in manifest["layers"])
        for path in (self.root / "blobs" / "sha256").iterdir():
            if "sha256:" + path.name not in keep:
                path.unlink()


def base_image(ref: str, cache: Path) -> tuple[list[dict], list[str], Path]:
    """The base's layer descriptors, their diff ids and the layout holding their blobs (podman save, once per base)."""
    image_id = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    saved = cache / f"base-{image_id[:12]}"
    if not (saved / "index.json").exists():
        for old in cache.glob("base-*"):
            shutil.rmtree(old)
        tmp = cache / f".base-{image_id[:12]}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            ["podman", "save", "--quiet", "--format", "oci-dir", "-o", str(tmp), ref], check=True, capture_output=True
        )
        tmp.replace(saved)
    index = json.loads((saved / "index.json").read_text())
    blobs = saved / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":", 1)[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    return manifest["layers"], config["rootfs"]["diff_ids"], blobs


def app_layer(release_tarball: bytes) -> bytes:
    """The release's files under /opt/ai-customer-service, as an uncompressed, deterministic tar."""
    raw = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(release_tarball), mode="r:gz") as src,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        parents = ["opt", APP_DIR]
        for name in parents:
            dst.addfile(directory(name))
        for member in sorted(src.getmembers(), key=lambda m: m.name):
            out = tarfile.TarInfo(f"{APP_DIR}/{member.name}")
            out.mode, out.mtime, out.uid, out.gid, out.uname, out.gname = member.mode, 0, 0, 0, "root", "root"
            if member.isdir():
                out.type = tarfile.DIRTYPE
                dst.addfile(out)
            elif member.isfile():
                data = src.extractfile(member).read()  # type: ignore[union-attr]
                out.size = len(data)
                dst.addfile(out, io.BytesIO(data))
            else:
                raise ValueError(f"{member.name}: only files and directories belong in a release tarball")
    return raw.getvalue()


def directory(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = (
        tarfile.DIRTYPE,
        0o755,
        0,
        0,
        0,
        "root",
        "root",
    )
    return info


def gzip_bytes(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()


def build_image(layout: Layout, release: dict, release_tarball: bytes, base: tuple[list[dict], list[str], Path]) -> str:
    """Writes one release's image into the layout; returns its manifest digest."""
    base_layers, base_diff_ids, base_blobs = base
    for layer in base_layers:
        target = layout.blob_path(layer["digest"])
        if not target.exists():
            shutil.copyfile(base_blobs / layer["digest"].split(":", 1)[1], target)
    tar = app_layer(release_tarball)
    layer = layout.put(gzip_bytes(tar), LAYER)
    version = release["version"]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {
            "User": USER,
            "Entrypoint": [f"/{APP_DIR}/ai-customer-service"],
            "WorkingDir": f"/{APP_DIR}",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "StopSignal": "SIGTERM",
            "Labels": {
                "org.opencontainers.image.title": IMAGE_NAME,
                "org.opencontainers.image.version": version,
                "ai-cs.schema_version": str(release["schema_version"]),
                "ai-cs.tarball.sha256": hashlib.sha256(release_tarball).hexdigest(),
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [*base_diff_ids, sha256(tar)]},
        "history": [
            {"created": CREATED, "created_by": "service/image/base.sh", "comment": "release base"},
            {"created": CREATED, "created_by": f"service/image.py: {version} tarball into /{APP_DIR}"},
        ],
    }
    config_desc = layout.put(canonical(config), CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config_desc,
        "layers": [*base_layers, layer],
    }
    desc = layout.put(canonical(manifest), MANIFEST)
    return desc["digest"]


def build_images(releases: list[dict], tarballs: dict[str, bytes], base_ref: str, out: Path) -> dict[str, str]:
    """Every release's image into the layout at `out` (only these tags remain); returns version -> digest."""
    layout = Layout(out)
    base = base_image(base_ref, out.parent)
    digests: dict[str, str] = {}
    entries = []
    for release in releases:
        version = release["version"]
        digest = build_image(layout, release, tarballs[version], base)
        digests[version] = digest
        entries.append(
            {
                "mediaType": MANIFEST,
                "digest": digest,
                "size": layout.blob_path(digest).stat().st_size,
                "annotations": {"org.opencontainers.image.ref.name": version},
            }
        )
    layout.write_index(entries)
    layout.collect_garbage()
    return digests


def digests_text(digests: dict[str, str]) -> str:
    """IMAGE-DIGESTS: one `<digest>  ai-customer-service:<version>` line per image, as SHA256SUMS lists files."""
    return "".join(f"{digest}  {IMAGE_NAME}:{version}\n" for version, digest in sorted(digests.items()))
