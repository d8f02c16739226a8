"""Unified enforcement-subject registry (统一执法主体库): officers, certificates, electronic certificates."""
