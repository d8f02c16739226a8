"""Declarative source connectors: HTTP pull, HTTP push, SQL polling and file drops, configured by data alone.

Each module exports one ``PLUGIN`` (see :data:`connectors.plugins.PLUGINS`); full example
configs are in ``examples/`` (one per shape) and are validated by the unit tests.
"""
