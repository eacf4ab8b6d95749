"""Pure functions from snapshots (and their short history) to findings. No I/O here."""
