"""Configuration from the AI_CS_* environment, validated the way the runbook describes."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, urlsplit

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
    shutdown_timeout_seconds: int = 20
    # a rotation window: the secret the upstream signed with before, accepted until previous_until (unix seconds)
    webhook_secret_previous: str | None = None
    webhook_secret_previous_until: int = 0
    # the load balancers whose X-Forwarded-For names the client (audit rows, per-caller limits); none: the peer
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default_factory=tuple)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """Who called: the last X-Forwarded-For entry (the one the proxy added) when the peer is a trusted proxy,
        else the peer. Entries a client sent itself come before it and are never taken."""
        if not forwarded_for or not self.trusted_proxies:
            return peer
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return peer
        if not any(address in net for net in self.trusted_proxies):
            return peer
        last = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer

    def redacted_dsn(self) -> str | None:
        """The DSN with its password masked, safe for logs: rebuilt from its parsed parts, so no encoding of the
        password (raw, percent-encoded, a form urlsplit would cut at a / or @) can survive."""
        if not self.dsn:
            return None
        try:
            parts = urlsplit(self.dsn)
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            return "[REDACTED]"
        user = parts.username or ""
        auth = f"{user}:***@" if parts.password is not None else (f"{user}@" if user else "")
        rebuilt = parts._replace(netloc=f"{auth}{host}{port}").geturl()
        return self.scrub(rebuilt)

    def scrub(self, text: str) -> str:
        """text with the DSN's password (in every form it can be written) replaced by ***."""
        password = dsn_password(self.dsn)
        if not password:
            return text
        for form in {password, quote(password, safe=""), quote(password), quote_plus(password)}:
            text = text.replace(form, "***")
        return text


def dsn_password(dsn: str | None) -> str | None:
    """The password of a postgres:// DSN, decoded; None when there is none or the DSN does not parse."""
    if not dsn:
        return None
    try:
        password = urlsplit(dsn).password
    except ValueError:
        return None
    return unquote(password) if password else None


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


def parse_proxies(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """AI_CS_TRUSTED_PROXIES: addresses, networks (CIDR) or host names (resolved once, at start), comma-separated."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(entry, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            raise ConfigError(
                f"invalid AI_CS_TRUSTED_PROXIES {entry!r}: use addresses, networks (CIDR) or host names that resolve"
            ) from None
        nets += [ipaddress.ip_network(info[4][0]) for info in infos]
    return tuple(dict.fromkeys(nets))


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
    shutdown_raw = env_vars.get("AI_CS_SHUTDOWN_TIMEOUT_SECONDS", "20").strip()
    if not shutdown_raw.isdigit() or not 0 < int(shutdown_raw) <= 3600:
        raise ConfigError(f"invalid AI_CS_SHUTDOWN_TIMEOUT_SECONDS {shutdown_raw!r}: use 1 to 3600 seconds")
    previous = env_vars.get("AI_CS_WEBHOOK_SECRET_PREVIOUS", "") or None
    until_raw = env_vars.get("AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL", "").strip()
    if previous and not until_raw.isdigit():
        raise ConfigError(
            f"invalid AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL {until_raw!r}: use the unix time the rotation window closes"
        )
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
        shutdown_timeout_seconds=int(shutdown_raw),
        trusted_proxies=parse_proxies(env_vars.get("AI_CS_TRUSTED_PROXIES", "")),
        webhook_secret_previous=previous,
        webhook_secret_previous_until=int(until_raw) if previous else 0,
    )
