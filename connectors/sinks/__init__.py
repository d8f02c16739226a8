"""Sink connectors: deliver standard records from a topic to departments' systems (signed webhooks, SQL tables)."""
