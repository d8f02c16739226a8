"""The sampling processor: inspection records close double-random plans."""
