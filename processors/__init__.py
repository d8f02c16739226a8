"""Processors: faust-streaming apps that build the unified registries and run the closed loops."""
