"""I/O only: each source reads one system and returns plain data; failures are recorded, not raised."""
