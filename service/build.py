#!/usr/bin/env python3
"""Build the release artifacts: per version ai-customer-service-<version>-linux-amd64.tar.gz
(executable, db/migration/, VERSION) and one SHA256SUMS. Reproducible: fixed timestamps,
owners, modes and order, so the same sources give the same SHA256SUMS. With --images, also each
release's container image, made from that tarball (service/image.py), and IMAGE-DIGESTS."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import image

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "src" / "ai_customer_service"
MIGRATIONS = HERE / "db" / "migration"
EPOCH = (1980, 1, 1, 0, 0, 0)
MAIN = b"import sys\nfrom ai_customer_service.main import main\n\nsys.exit(main())\n"
MIGRATION_NAME = re.compile(r"^(\d+)_[A-Za-z0-9_]+\.(up|down)\.sql$")


def artifact_name(version: str) -> str:
    return f"ai-customer-service-{version}-linux-amd64.tar.gz"


def zipapp(release: dict) -> bytes:
    """The executable: a Python zip application with a shebang, built deterministically."""
    info = {k: release[k] for k in ("version", "schema_version", "features")}
    info["fault"] = release.get("fault")
    entries = {"__main__.py": MAIN, "ai_customer_service/build_info.json": json.dumps(info, sort_keys=True).encode()}
    for path in sorted(PACKAGE.glob("*.py")):
        entries[f"ai_customer_service/{path.name}"] = path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            zinfo = zipfile.ZipInfo(name, EPOCH)
            zinfo.external_attr = 0o644 << 16
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zinfo, entries[name])
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


def migrations(release: dict) -> dict[str, bytes]:
    files = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if match and int(match.group(1)) <= release["schema_version"]:
            files[path.name] = path.read_bytes()
    for extra in release.get("extra_migrations", []):
        files[Path(extra).name] = (HERE / extra).read_bytes()
    return files


def tarball(release: dict) -> bytes:
    members: list[tuple[str, bytes | None, int]] = [
        ("ai-customer-service", zipapp(release), 0o755),
        ("VERSION", (release["version"] + "\n").encode(), 0o644),
        ("db", None, 0o755),
        ("db/migration", None, 0o755),
    ]
    members += [(f"db/migration/{name}", data, 0o644) for name, data in sorted(migrations(release).items())]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = mode, 0, 0, 0, "root", "root"
            if data is None:
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomic replace, and only when the content differs, so a rebuild is a no-op."""
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def build(out: Path, only: list[str] | None = None, images: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """Returns the checksums of the built artifacts and the files that were (re)written. With `images` (an OCI
    layout directory), also every release's image there and their digests in IMAGE-DIGESTS beside SHA256SUMS."""
    releases = json.loads((HERE / "releases.json").read_text())["releases"]
    releases = [r for r in releases if not only or r["version"] in only]
    out.mkdir(parents=True, exist_ok=True)
    sums: dict[str, str] = {}
    tarballs: dict[str, bytes] = {}
    written: list[str] = []
    for release in releases:
        name = artifact_name(release["version"])
        data = tarballs[release["version"]] = tarball(release)
        if write_if_changed(out / name, data):
            written.append(name)
        sums[name] = hashlib.sha256(data).hexdigest()
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    if write_if_changed(out / "SHA256SUMS", text.encode()):
        written.append("SHA256SUMS")
    if images is not None:
        base = subprocess.run([str(HERE / "image" / "base.sh")], check=True, capture_output=True, text=True)
        digests = image.build_images(releases, tarballs, base.stdout.strip(), images)
        if write_if_changed(out / image.DIGESTS_FILE, image.digests_text(digests).encode()):
            written.append(image.DIGESTS_FILE)
    return sums, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE.parent / "build" / "artifacts")
    parser.add_argument("--version", action="append", dest="versions", help="build only this version (repeatable)")
    parser.add_argument("--changed-only", action="store_true", help="print only the files that were (re)written")
    parser.add_argument(
        "--images",
        type=Path,
        nargs="?",
        const=HERE.parent / "build" / "images" / "oci",
        metavar="LAYOUT",
        help="also build each release's image into this OCI layout (default build/images/oci) and IMAGE-DIGESTS",
    )
    args = parser.parse_args()
    if args.images and args.versions:
        parser.error("--images builds every release's image (the layout keeps only the tags it was given)")
    sums, written = build(args.out, args.versions, args.images)
    if args.changed_only:
        for name in written:
            print(args.out / name)
        return 0
    for name in sorted(sums):
        print(f"{sums[name]}  {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
