"""Structured logging: one JSON object per line on stderr.

Fields: ``ts``, ``level``, ``logger``, ``msg`` plus anything passed in ``extra=``.
Never pass personal data (names, ID numbers, phones) in ``extra`` or messages.
"""

from __future__ import annotations

import json
import logging
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line; non-standard attributes become fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Install the hub's handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_hub", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._hub = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet_libraries()


def quiet_libraries() -> None:
    """Raise the thresholds of the client libraries' chattiest loggers (also under faust's logging)."""
    level = logging.getLogger().level
    # kafka-python is chatty at INFO about every connection, httpx about every request (the
    # connected systems' URLs with their query strings, several lines per poll).
    for name in ("kafka", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
    # kafka-python 3 warns whenever one of its own I/O tasks held its event loop > 100 ms: on a
    # busy small machine that is several lines a second that no hub setting can act on.
    logging.getLogger("kafka.net.selector").setLevel(max(logging.ERROR, level))
