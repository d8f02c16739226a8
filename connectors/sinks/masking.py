"""Masking of personal information (PIPL, GB/T 35273) for destinations not cleared for it.

Which fields are personal comes from the data standard: fields tagged ``pii`` in the Avro
schema (:func:`schemas.loader.pii_fields`). The rule depends on the kind:

==============  =====================================  ======================
kind            rule                                   example
==============  =====================================  ======================
``name``        keep the first and last character      张三丰 -> 张*丰, 张三 -> 张*
``id_number``   keep the first 6 and last 4            330106********123X
``phone``       keep the first 3 and last 4            138****5678
``address``     keep the first 6 characters            浙江省杭州市******
other           everything masked                      ****
==============  =====================================  ======================

Values too short for their rule are masked entirely. Pure functions; safe on any thread.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from schemas.loader import pii_fields

MASK = "*"


def mask_name(s: str) -> str:
    if len(s) <= 1:
        return MASK * len(s)
    if len(s) == 2:
        return s[0] + MASK
    return s[0] + MASK * (len(s) - 2) + s[-1]


def _keep(head: int, tail: int) -> Callable[[str], str]:
    def rule(s: str) -> str:
        if len(s) <= head + tail:
            return MASK * len(s)
        return s[:head] + MASK * (len(s) - head - tail) + s[len(s) - tail:]
    return rule


mask_id_number = _keep(6, 4)
mask_phone = _keep(3, 4)
mask_address = _keep(6, 0)


def mask_all(s: str) -> str:
    return MASK * len(s)


RULES: dict[str, Callable[[str], str]] = {
    "name": mask_name,
    "id_number": mask_id_number,
    "phone": mask_phone,
    "address": mask_address,
}
"""pii kind -> masking rule; kinds not listed are masked entirely."""


def mask_value(kind: str, value: str) -> str:
    """``value`` masked by the rule of pii ``kind``."""
    return RULES.get(kind, mask_all)(value)


def mask_paths(value: dict, paths: dict[str, str]) -> dict:
    """A deep copy of ``value`` with the string at each dotted path masked by its kind.

    Paths walk into lists (arrays add no segment, as in :func:`schemas.loader.pii_fields`);
    absent, null and non-string values are left alone.
    """
    out = copy.deepcopy(value)
    for path, kind in paths.items():
        *parents, leaf = path.split(".")

        def walk(node: Any, i: int, parents=parents, leaf=leaf, kind=kind) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item, i)
            elif isinstance(node, dict):
                if i == len(parents):
                    if isinstance(node.get(leaf), str):
                        node[leaf] = mask_value(kind, node[leaf])
                    elif isinstance(node.get(leaf), list):  # array of strings
                        node[leaf] = [mask_value(kind, v) if isinstance(v, str) else v for v in node[leaf]]
                else:
                    walk(node.get(parents[i]), i + 1)

        walk(out, 0)
    return out


def mask_record(schema: str, value: dict) -> dict:
    """``value`` of Avro schema ``schema`` (full name) with every pii field masked (a copy)."""
    try:
        paths = pii_fields(schema)
    except KeyError:
        # Not a schema of the standard: we cannot tell which fields are personal, so refuse.
        raise ValueError(f"schema {schema!r} is not in the data standard; cannot mask its personal data") from None
    return mask_paths(value, paths)
