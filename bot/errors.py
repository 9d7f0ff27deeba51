"""Errors the `dora bot` command turns into one clear line (kept light: no aiogram import)."""


class TokenMissingError(ValueError):
    """No bot token: says which setting to set."""
