"""One holder at a time per key (a user's turn, a user's memory work), in one process or across many.

With one worker, asyncio locks are enough. With several workers behind one webhook, two messages
from the same user can land on different workers; a Redis lock keeps that user's turns, and the
fact extraction after them, one at a time, so facts reconcile in the order they were said. The
Redis lock is a lease renewed while it is held: a worker killed mid-turn frees it within
``lease_s`` and a survivor carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


class LockTimeoutError(RuntimeError):
    """Waited ``wait_s`` for a key another holder kept; the caller retries later."""


class UserLocks(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` for the ``async with`` block, waiting for the current holder first."""
        ...


class LocalUserLocks:
    """asyncio locks per key, forgotten when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                yield
            finally:
                if not lock._waiters:  # nobody queued behind us: drop it so the dict stays small
                    self._locks.pop(key, None)


class RedisUserLocks:
    """Redis locks (redis-py's token-checked ``Lock``) with a lease renewed while held."""

    def __init__(
        self, redis: Redis, *, prefix: str = "dora:lock:", lease_s: float = 30.0, wait_s: float = 600.0
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease_s = lease_s
        self.wait_s = wait_s

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self.redis.lock(
            self.prefix + key, timeout=self.lease_s, blocking_timeout=self.wait_s, sleep=0.02
        )
        if not await lock.acquire():
            raise LockTimeoutError(f"waited {self.wait_s:.0f} s for a busy lock")
        renew = asyncio.create_task(self._renew(lock))
        try:
            yield
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            try:
                await lock.release()
            except Exception as exc:  # the lease ran out (a long stall): someone else may hold it now
                log.warning("locks: a lease expired while held (%s)", type(exc).__name__)

    async def _renew(self, lock: object) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await lock.reacquire()  # type: ignore[attr-defined]
            except Exception as exc:
                log.warning("locks: could not renew a lease (%s)", type(exc).__name__)
                return
