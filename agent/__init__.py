"""agent: see README (lands with its issue)."""
