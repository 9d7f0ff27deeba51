"""tools: see README (lands with its issue)."""
