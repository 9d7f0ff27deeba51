"""Errors of the application's configuration that `dora` turns into one clear line (kept light:
the console script imports this module on every run)."""

from __future__ import annotations


class TokenMissingError(ValueError):
    """No bot token: says which setting to set."""


class ServiceUnavailableError(RuntimeError):
    """A configured server (Redis, PostgreSQL) did not answer at start: names the setting. Raised
    by the root, not the bot: `dora chat` on PostgreSQL meets it too."""
