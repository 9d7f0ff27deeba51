"""Work after the reply, off the reply path: one job at a time per user, in order.

Fact extraction and summarising call the LLM and may take seconds on a CPU; the user never waits
for them. Jobs for one user run in the order they were queued (so facts reconcile in the order they
were said); jobs for different users may overlap, up to ``concurrency`` at once (1 suits one local
model on a laptop). Replies come first: a job waits to start while any reply is being generated,
since on a CPU both would share the same cores (measured with the local 1.5B model: a reply's first
token took 9-14 s instead of about 1 s while an extraction ran). With several workers, ``locks``
(Redis) keeps one user's jobs one at a time across all of them (see :mod:`agent.locks`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from agent.locks import LocalUserLocks, UserLocks

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class BackgroundQueue:
    def __init__(self, concurrency: int = 1, locks: UserLocks | None = None) -> None:
        self._locks = locks or LocalUserLocks()
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._replying = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def replying(self) -> AsyncIterator[None]:
        """Mark a reply in progress: queued jobs don't start until no reply is."""
        self._replying += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._replying -= 1
            if self._replying == 0:
                self._idle.set()

    def submit(self, user_key: str, name: str, job: Job) -> asyncio.Task[None]:
        """Queue ``job`` after the user's earlier jobs; failures are logged, never raised here (the
        work they stand for stays pending in its store and is retried by the next job)."""
        previous = self._tails.get(user_key)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                async with self._locks.hold(f"memory:{user_key}"), self._slots:
                    await self._idle.wait()
                    await job()
            except Exception as exc:
                log.warning("background: %s failed (%s); it will be retried", name, type(exc).__name__)

        task = asyncio.get_running_loop().create_task(run(), name=f"dora:{name}")
        self._tails[user_key] = task
        task.add_done_callback(
            lambda t: self._tails.pop(user_key, None) if self._tails.get(user_key) is t else None
        )
        return task

    def pending(self) -> int:
        return sum(1 for t in self._tails.values() if not t.done())

    async def close(self, timeout_s: float | None = None) -> bool:
        """Drain for up to ``timeout_s``, then cancel what is left (its work stays pending in its
        store and resumes next time). True if everything finished."""
        finished = await self.drain(timeout_s)
        if not finished:
            left = [t for t in self._tails.values() if not t.done()]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
        return finished

    async def drain(self, timeout_s: float | None = None, user_key: str | None = None) -> bool:
        """Wait for queued work (one user's, or everyone's); True if it finished within ``timeout_s``.
        A user's last job waits for their earlier ones, so its tail stands for all of them."""
        tasks = [t for k, t in self._tails.items() if (user_key is None or k == user_key) and not t.done()]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending
