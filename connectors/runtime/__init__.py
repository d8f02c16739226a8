"""The source-connector runtime: the adapter contract, the record pipeline, checkpoints, dead letters and the runner."""
