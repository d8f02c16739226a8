"""The connector registration API (Kafka Connect-style REST): plugins, connectors, status, offsets."""
