"""Hub API: the FastAPI service (schema registry, auth, health, metrics; later connectors and registries)."""
