"""Simulated provincial systems and realistic sample data: test and demo tooling, not production code."""
