"""Request handling shared by the HTTP simulators: bearer check, cursor and page windows, /health.

Each function works on a simulator's ``rows`` under its ``lock``, so a page is a consistent
snapshot while :meth:`~ops.simulators.base.Simulator.emit` appends from another thread.
"""

from __future__ import annotations

import math
import threading

from fastapi import FastAPI, HTTPException


def require_bearer(authorization: str | None, token: str) -> None:
    """401 with ``WWW-Authenticate: Bearer`` unless ``authorization`` is ``Bearer <token>``."""
    if authorization != f"Bearer {token}":
        raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def cursor_window(rows: list, lock: threading.RLock, cursor: str | None,
                  size: int) -> tuple[list, int, int]:
    """``(items, end, total)`` after the decimal ``cursor`` (rows already read; ``None`` = 0).

    400 ``invalid cursor`` unless it is a decimal number no larger than ``total``.
    """
    with lock:
        n = len(rows)
        if cursor is None:
            start = 0
        elif cursor.isdigit() and int(cursor) <= n:
            start = int(cursor)
        else:
            raise HTTPException(400, "invalid cursor")
        items = rows[start:start + size]
    return items, start + len(items), n


def page_window(rows: list, lock: threading.RLock, page: int, size: int) -> tuple[list, int, int]:
    """``(items, total, pages)`` of 1-based page ``page`` of ``size`` rows."""
    with lock:
        total = len(rows)
        items = rows[(page - 1) * size: page * size]
    return items, total, math.ceil(total / size)


def add_health(app: FastAPI, sim, **extra) -> None:
    """``GET /health`` -> ``{"status": "ok", "records": <rows served>, **extra}``."""

    @app.get("/health")
    def health():
        return {"status": "ok", "records": len(sim.rows), **extra}
