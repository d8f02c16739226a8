"""The table of connector plugins: an explicit dict, no registration by import side effect.

To add a plugin, import its descriptor here and add one line to :data:`PLUGINS`.
"""

from __future__ import annotations

from connectors.runtime.plugin import Plugin

PLUGINS: dict[str, Plugin] = {
    # --- declarative sources (connectors/declarative/) ---
    # --- code adapters (connectors/<system>/) ---
    # --- sinks (connectors/sinks/) ---
}


def get_plugin(name: str) -> Plugin:
    """The plugin called ``name``; an unknown name is answered with the valid ones."""
    try:
        return PLUGINS[name]
    except KeyError:
        raise KeyError(f"unknown connector plugin {name!r}; valid plugins: {', '.join(sorted(PLUGINS)) or '(none)'}") from None
