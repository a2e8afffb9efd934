"""Configuration from the AI_CS_* environment, validated the way the runbook describes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .logs import LEVELS

ENVIRONMENTS = ("production", "test", "development")


class ConfigError(Exception):
    """Start-up refused; the message is the runbook's error text."""


@dataclass(frozen=True)
class Config:
    env: str
    addr: str
    host: str
    port: int
    postgres_enabled: bool
    dsn: str | None
    webhook_secret: str | None
    max_skew_seconds: int
    log_level: str

    def redacted_dsn(self) -> str | None:
        """The DSN with its password masked, safe for logs."""
        if not self.dsn:
            return None
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"invalid {name} {raw!r}: use true or false")


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid AI_CS_ADDR {addr!r}: use [host]:port, e.g. :8080")
    return host.strip("[]"), int(port)


def from_env(environ: Mapping[str, str] | None = None) -> Config:
    env_vars = os.environ if environ is None else environ
    env = env_vars.get("AI_CS_ENV", "development").strip().lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"invalid AI_CS_ENV {env!r}: use one of {', '.join(ENVIRONMENTS)}")
    addr = env_vars.get("AI_CS_ADDR", ":8080").strip() or ":8080"
    host, port = parse_addr(addr)
    enabled = _bool("AI_CS_POSTGRES_ENABLED", env_vars.get("AI_CS_POSTGRES_ENABLED", ""))
    dsn = env_vars.get("AI_CS_POSTGRES_DSN", "").strip() or None
    secret = env_vars.get("AI_CS_WEBHOOK_SECRET", "") or None
    skew_raw = env_vars.get("AI_CS_WEBHOOK_MAX_SKEW_SECONDS", "300").strip()
    if not skew_raw.isdigit() or int(skew_raw) <= 0:
        raise ConfigError(f"invalid AI_CS_WEBHOOK_MAX_SKEW_SECONDS {skew_raw!r}: use a positive number of seconds")
    level = env_vars.get("AI_CS_LOG_LEVEL", "info").strip().lower() or "info"
    if level not in LEVELS:
        raise ConfigError(f"invalid AI_CS_LOG_LEVEL {level!r}: use debug, info, warn or error")

    # Order and texts follow the runbook's start-up failure table.
    if env == "production" and not enabled:
        raise ConfigError("memory fallback is not allowed")
    if (env == "production" or enabled) and not dsn:
        raise ConfigError("AI_CS_POSTGRES_DSN is required")
    if env == "production" and not secret:
        raise ConfigError("AI_CS_WEBHOOK_SECRET is required")
    if dsn and urlsplit(dsn).scheme not in ("postgres", "postgresql"):
        raise ConfigError("invalid AI_CS_POSTGRES_DSN: use postgres://user:pass@host:port/db?sslmode=disable")
    return Config(
        env=env,
        addr=addr,
        host=host,
        port=port,
        postgres_enabled=enabled,
        dsn=dsn,
        webhook_secret=secret,
        max_skew_seconds=int(skew_raw),
        log_level=level,
    )
