"""Loopback stand-ins for the services DORA talks to, so the real bot can run with nothing outside
the machine: the tests drive it through them, and ``dora bench bot`` loads it through them.

:mod:`dora.loopback.botapi` is a faithful, scriptable Telegram Bot API server (see its docstring for
what it speaks and how it misbehaves on request).
"""

from dora.loopback import botapi
from dora.loopback.botapi import *  # noqa: F403 - the package's names are the module's

__all__ = botapi.__all__
