"""Where the secrets are in a plugin config: every field its model types as ``SecretStr`` /
``SecretBytes`` (also inside optionals, unions, nested models, lists and dicts), found by
walking the model's annotations -- not by guessing from field names.

Used to mask secrets on the way out of the API (:mod:`hub_api.connectors.secrets`) and to seal
them at rest (:mod:`connectors.secret_box`).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr

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


def walk_secrets(new: Any, old: Any, annotation: Any, secret: Callable[[Any, Any], Any]) -> Any:
    """``new`` (JSON as stored or sent) with ``secret(new_value, old_value)`` applied at every
    secret position of ``annotation`` (a plugin's config model); ``old`` is the same document's
    previous version, walked in step (None where it has no counterpart). Returns a new document;
    ``new`` is not modified."""
    if new is None:
        return None
    if _is_secret(annotation):
        return secret(new, old)
    for arm in _arms(annotation):
        if isinstance(arm, type) and issubclass(arm, BaseModel) and isinstance(new, dict):
            fields, prev = _fields(arm), old if isinstance(old, dict) else {}
            new = {k: walk_secrets(v, prev.get(k), fields[k], secret) if k in fields else v for k, v in new.items()}
            continue
        origin, args = get_origin(arm), get_args(arm)
        if origin in (list, tuple, set, frozenset) and isinstance(new, list) and args:
            prev = old if isinstance(old, list) and len(old) == len(new) else [None] * len(new)
            new = [walk_secrets(v, p, args[0], secret) for v, p in zip(new, prev, strict=True)]
        elif origin is dict and isinstance(new, dict) and len(args) == 2:
            prev = old if isinstance(old, dict) else {}
            new = {k: walk_secrets(v, prev.get(k), args[1], secret) for k, v in new.items()}
    return new
