"""One update at a time per user, in arrival order (aiogram handles updates concurrently).

Without it, a /forget pressed right after a message could run before that message's handler; the
chat handler itself only queues (see :mod:`bot.conversation`), so the lock is held briefly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User


class PerUserOrderingMiddleware(BaseMiddleware):
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        async with lock:
            try:
                return await handler(event, data)
            finally:
                if not lock._waiters:
                    self._locks.pop(user.id, None)
