"""One line per event in zap's console layout: time, LEVEL, the message verbatim, JSON attributes.

The message is never escaped, so the runbook's texts can be grepped from the journal as written."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40}


class Logger:
    def __init__(self, level: str = "info", stream: TextIO | None = None) -> None:
        self.threshold = LEVELS.get(level.lower(), 20)
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def log(self, level: str, msg: str, **attrs: object) -> None:
        if LEVELS[level] < self.threshold:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        fields = {key: val for key, val in attrs.items() if val is not None}
        line = f"{stamp}\t{'WARN' if level == 'warn' else level.upper()}\t{msg}"
        if fields:
            line += "\t" + json.dumps(fields, ensure_ascii=False, default=str, separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def debug(self, msg: str, **attrs: object) -> None:
        self.log("debug", msg, **attrs)

    def info(self, msg: str, **attrs: object) -> None:
        self.log("info", msg, **attrs)

    def warn(self, msg: str, **attrs: object) -> None:
        self.log("warn", msg, **attrs)

    def error(self, msg: str, **attrs: object) -> None:
        self.log("error", msg, **attrs)
