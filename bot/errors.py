"""Errors the `dora bot` command turns into one clear line (kept light: no aiogram import)."""


class TokenMissingError(ValueError):
    """No bot token: says which setting to set."""


class ServiceUnavailableError(RuntimeError):
    """A configured server (Redis, PostgreSQL) did not answer at start: names the setting."""
