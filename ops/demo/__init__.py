"""The demo: simulated provincial systems connected to the hub through its own connector API."""
