"""personas: see README (lands with its issue)."""
