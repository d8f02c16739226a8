"""Federation between hubs: signed, replay-proof, idempotent messages to and from peer provinces."""
