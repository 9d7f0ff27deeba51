"""One router per feature; :mod:`bot.app` includes them in order."""
