"""Ops: settings, the `hub` command, the embedded broker, process supervision, metrics and benchmarks."""
