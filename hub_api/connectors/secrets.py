"""Secrets in connector configs: masked on the way out, kept when a masked value comes back.

Secret positions are found from the plugin's config model (:mod:`connectors.secret_fields`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from connectors.secret_fields import walk_secrets

MASK = "********"


def mask(config: dict[str, Any], model: type[BaseModel] | None) -> dict[str, Any]:
    """``config`` (a plugin config as stored) with every secret replaced by ``********``.

    Without the model (unknown plugin) nothing can be told apart, so everything is masked.
    """
    if model is None:
        return {k: MASK for k in config}
    return walk_secrets(config, None, model, lambda new, _old: MASK)


def restore(config: dict[str, Any], previous: dict[str, Any] | None, model: type[BaseModel]) -> dict[str, Any]:
    """``config`` with every secret sent back as ``********`` replaced by its stored value, so a
    client can GET a connector, change a field and PUT it back without re-typing secrets."""
    return walk_secrets(config, previous or {}, model, lambda new, old: old if new == MASK and old is not None else new)
