"""Entry point: configure, check the database, serve; fail fast with the runbook's texts."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from typing import Any

from . import buildinfo, config
from .logs import Logger
from .server import App, Server, make_server
from .store import MemoryStore, PostgresStore, StoreError


def stop_on_signals(server: Server, app: App, cfg: config.Config, log: Logger) -> threading.Event:
    """SIGTERM/SIGINT stop gracefully: /ready answers 503 at once, then no new connection is accepted and the
    requests in flight finish (bounded by AI_CS_SHUTDOWN_TIMEOUT_SECONDS; systemd's TimeoutStopSec is longer).
    Returns the event that is set once a stop began."""
    stopping = threading.Event()

    def drain() -> None:
        left = server.stop(cfg.shutdown_timeout_seconds)
        if left:
            log.warn("requests still in flight at the shutdown timeout", requests=left)

    def stop(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("shutting down", signal=signal.Signals(signum).name, timeout_seconds=cfg.shutdown_timeout_seconds)
        app.draining.set()
        threading.Thread(target=drain, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping


def main(argv: list[str] | None = None) -> int:
    build = buildinfo.load_or_default()
    parser = argparse.ArgumentParser(prog="ai-customer-service", description="ai-customer-service (reference build)")
    parser.add_argument("--version", action="version", version=f"ai-customer-service {build.version}")
    parser.parse_args(argv)

    log = Logger(os.environ.get("AI_CS_LOG_LEVEL", "info"))
    try:
        cfg = config.from_env()
    except config.ConfigError as exc:
        log.error(str(exc), env=os.environ.get("AI_CS_ENV", ""))
        return 1
    log = Logger(cfg.log_level)

    if build.fault == "crash_at_start":
        log.error("fixture build: crash at start", version=build.version)
        return 3

    store: Any
    if cfg.postgres_enabled:
        try:
            store = PostgresStore(cfg.dsn or "", build.features)
            store.check_startup(build.schema_version)
        except StoreError as exc:
            log.error(cfg.scrub(str(exc)), dsn=cfg.redacted_dsn())
            return 1
    else:
        store = MemoryStore(build.features)
        log.warn("using in-memory store", env=cfg.env)

    app = App(cfg, build, store, log)
    try:
        server = make_server(app)
    except OSError as exc:
        reason = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied"}.get(
            exc.errno or 0, exc.strerror or str(exc)
        )
        log.error(f"listen tcp {cfg.addr}: bind: {reason}")
        store.close()
        return 1

    stopping = stop_on_signals(server, app, cfg, log)
    health = store.health(build.schema_version)
    if health["status"] != "UP":
        log.warn("not ready", reason=health.get("error"))
    log.info(
        "listening", addr=cfg.addr, version=build.version, env=cfg.env, store=store.kind, schema=build.schema_version
    )
    server.serve_forever()
    while stopping.is_set() and not server.stopped.is_set():  # serve_forever returned: wait for the drain
        server.stopped.wait(0.5)
    store.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
