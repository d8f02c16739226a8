"""Connectors: the runtime that brings existing systems' records onto the hub's standard topics."""
