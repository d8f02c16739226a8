"""Topics: the topic catalog as code, its provisioning, the Confluent wire format and the producer transport."""
