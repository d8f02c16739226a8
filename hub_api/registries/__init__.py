"""Read APIs of the supervision registries: supervised entities (who supervises me, whom do I supervise) and items."""
