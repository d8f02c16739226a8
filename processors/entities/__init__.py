"""Unified supervised-object registry (统一监管对象库): golden records, source versions, item links."""
