"""Small middlewares, one concern each; the dispatcher wires them in :mod:`bot.app`."""
