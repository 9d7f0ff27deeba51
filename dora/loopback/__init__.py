"""Loopback stand-ins for the services DORA talks to, so the real bot can run with nothing outside
the machine: the tests drive it through them, and ``dora bench bot`` loads it through them.

:mod:`dora.loopback.botapi` is a faithful, scriptable Telegram Bot API server (see its docstring for
what it speaks and how it misbehaves on request).
"""

from dora.loopback.botapi import (
    DEFAULT_GROUP_ID,
    DEFAULT_TOKEN,
    BotAPIServer,
    Call,
    EntityParseError,
    parse_text,
    utf16_len,
)

__all__ = [
    "DEFAULT_GROUP_ID",
    "DEFAULT_TOKEN",
    "BotAPIServer",
    "Call",
    "EntityParseError",
    "parse_text",
    "utf16_len",
]
