"""A faithful, scriptable Telegram Bot API server on loopback, for driving the real bot in tests.

See :mod:`tests.botapi.server` for what it speaks and how it misbehaves on request.
"""

from tests.botapi.server import (
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
