"""Schema registry: the Confluent Schema Registry REST API served under ``/registry``."""
