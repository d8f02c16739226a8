"""Generated straight-line functions: source lines plus a namespace of bound constants.

Used by :mod:`connectors.mapping_compiled` and :mod:`connectors.runtime.rules_compiled`.
Configuration strings never enter the code text: every value the code refers to is bound
as a named constant (``_c12``) in the namespace it runs in, so the text holds only
generated names and fixed syntax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Code:
    """Lines of generated code plus the namespace holding every constant they refer to."""

    def __init__(self, shared: dict[str, Any], filename: str):
        self.ns: dict[str, Any] = dict(shared)
        self.lines: list[str] = []
        self.filename = filename
        self._n = 0

    def const(self, value: Any) -> str:
        """The name bound to ``value`` in the namespace (a fresh name per call)."""
        name = f"_c{self._n}"
        self._n += 1
        self.ns[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def build(self, name: str) -> Callable:
        """Run the lines and return the function they define as ``name``."""
        exec(compile("\n".join(self.lines) + "\n", self.filename, "exec"), self.ns)  # noqa: S102 - constants only
        return self.ns[name]
