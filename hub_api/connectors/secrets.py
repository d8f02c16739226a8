"""Secrets in connector configs: masked on the way out, kept when a masked value comes back.

A secret is any field the plugin's config model types as ``SecretStr`` / ``SecretBytes``
(also inside optionals, unions, nested models, lists and dicts), found by walking the
model's annotations -- not by guessing from field names.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "********"
_SECRET_TYPES = (SecretStr, SecretBytes)


def _arms(annotation: Any) -> tuple[Any, ...]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _arms(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return tuple(a for arg in get_args(annotation) for a in _arms(arg))
    return (annotation,)


def _is_secret(annotation: Any) -> bool:
    return any(isinstance(a, type) and issubclass(a, _SECRET_TYPES) for a in _arms(annotation))


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Key as the user may write it (name or alias) -> annotation."""
    out = {}
    for name, info in model.model_fields.items():
        out[name] = info.annotation
        if info.alias:
            out[info.alias] = info.annotation
    return out


def _walk(new: Any, old: Any, annotation: Any, secret) -> Any:
    """``new`` with ``secret(new_value, old_value)`` applied at every secret position."""
    if new is None:
        return None
    if _is_secret(annotation):
        return secret(new, old)
    for arm in _arms(annotation):
        if isinstance(arm, type) and issubclass(arm, BaseModel) and isinstance(new, dict):
            fields, prev = _fields(arm), old if isinstance(old, dict) else {}
            new = {k: _walk(v, prev.get(k), fields[k], secret) if k in fields else v for k, v in new.items()}
            continue
        origin, args = get_origin(arm), get_args(arm)
        if origin in (list, tuple, set, frozenset) and isinstance(new, list) and args:
            prev = old if isinstance(old, list) and len(old) == len(new) else [None] * len(new)
            new = [_walk(v, p, args[0], secret) for v, p in zip(new, prev, strict=True)]
        elif origin is dict and isinstance(new, dict) and len(args) == 2:
            prev = old if isinstance(old, dict) else {}
            new = {k: _walk(v, prev.get(k), args[1], secret) for k, v in new.items()}
    return new


def mask(config: dict[str, Any], model: type[BaseModel] | None) -> dict[str, Any]:
    """``config`` (a plugin config as stored) with every secret replaced by ``********``.

    Without the model (unknown plugin) nothing can be told apart, so everything is masked.
    """
    if model is None:
        return {k: MASK for k in config}
    return _walk(config, None, model, lambda new, _old: MASK)


def restore(config: dict[str, Any], previous: dict[str, Any] | None, model: type[BaseModel]) -> dict[str, Any]:
    """``config`` with every secret sent back as ``********`` replaced by its stored value, so a
    client can GET a connector, change a field and PUT it back without re-typing secrets."""
    return _walk(config, previous or {}, model, lambda new, old: old if new == MASK and old is not None else new)
