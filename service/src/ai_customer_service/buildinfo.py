"""What this build is: version, the schema it needs, and (for test fixtures only) its fault."""

from __future__ import annotations

import json
import pkgutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BuildInfo:
    version: str = "v0.0.0-dev"
    schema_version: int = 2
    features: frozenset[str] = field(default_factory=frozenset)
    fault: str | None = None


def load() -> BuildInfo:
    """Read build_info.json written into the executable by build.py; a source checkout has none."""
    raw = pkgutil.get_data(__name__.rpartition(".")[0], "build_info.json")
    if raw is None:  # pragma: no cover - pkgutil raises instead on missing files
        return BuildInfo()
    data = json.loads(raw)
    return BuildInfo(
        version=data["version"],
        schema_version=int(data["schema_version"]),
        features=frozenset(data.get("features", [])),
        fault=data.get("fault"),
    )


def load_or_default() -> BuildInfo:
    try:
        return load()
    except (FileNotFoundError, OSError):
        return BuildInfo()
