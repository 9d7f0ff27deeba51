"""Per-user flood control: a sliding one-minute window of message times; past the limit, one notice.

The window lives in the process (one worker) or in Redis (several workers share one count, so a
flood spread over workers is still a flood).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _

if TYPE_CHECKING:
    from redis.asyncio import Redis

WINDOW_S = 60.0


class RateWindow(Protocol):
    async def admit(self, user_id: int, limit: int) -> bool:
        """Count a message unless ``limit`` were already counted in the last minute."""
        ...

    async def first_refusal(self, user_id: int) -> bool:
        """True once per minute per user: whether to tell them to slow down."""
        ...


class LocalRateWindow:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    async def admit(self, user_id: int, limit: int) -> bool:
        now = self.clock()
        window = self._seen.setdefault(user_id, deque())
        while window and now - window[0] > WINDOW_S:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    async def first_refusal(self, user_id: int) -> bool:
        now = self.clock()
        if now - self._warned.get(user_id, -1e9) > WINDOW_S:
            self._warned[user_id] = now
            return True
        return False


_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""


class RedisRateWindow:
    """A sorted set of message times per user, trimmed and counted atomically (one Lua script, so
    two workers can't both admit the last allowed message), and a one-minute warn flag."""

    def __init__(self, redis: Redis, prefix: str = "dora:flood:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._admit = redis.register_script(_ADMIT)

    async def admit(self, user_id: int, limit: int) -> bool:
        now = time.time()
        keys = [f"{self.prefix}{user_id}"]
        return bool(await self._admit(keys=keys, args=[now, WINDOW_S, limit, uuid.uuid4().hex]))

    async def first_refusal(self, user_id: int) -> bool:
        return bool(await self.redis.set(f"{self.prefix}warned:{user_id}", 1, nx=True, ex=int(WINDOW_S)))


class ThrottlingMiddleware(BaseMiddleware):
    def __init__(self, per_minute: int, window: RateWindow | None = None) -> None:
        self.per_minute = per_minute
        self.window = window or LocalRateWindow()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.from_user is None:
            return await handler(event, data)
        user_id = event.from_user.id
        if not await self.window.admit(user_id, self.per_minute):
            if await self.window.first_refusal(user_id):
                await event.answer(_("Not so fast 🙂 Give me a minute to catch up."))
            return None
        return await handler(event, data)
