"""bot: see README (lands with its issue)."""
