"""The data standard: Avro schemas (.avsc), their loader and the code-system validators."""
