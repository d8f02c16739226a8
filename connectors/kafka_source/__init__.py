"""``kafka-json``: a source whose existing system *is* a Kafka topic (on its own cluster)."""
