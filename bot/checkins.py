"""Sending check-ins to Telegram: DORA writing first (what and when is decided in
:mod:`agent.presence.checkins`; here it is only delivered).

APScheduler runs the tick every ``every_s`` in each worker (one tick at a time per worker, late
ticks coalesced). The tick does not trust the scheduler to run it once: every due check-in is
*claimed* in the database first, a conditional update only one worker can win, so with any number
of workers each check-in goes out once. A worker killed mid-send leaves a claim that runs out after
the lease, and another worker sends it then. While a check-in is written and sent, the user's turn
lock is held (Redis with several workers), so it never lands in the middle of a reply.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter
from aiogram.exceptions import TelegramServerError as TelegramServerErr
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent.companion import Companion
from agent.locks import LocalUserLocks, UserLocks
from agent.presence.checkins import Checkins, Due
from bot.identity import telegram_id
from bot.replies import split_message

log = logging.getLogger(__name__)

# the funnel: (Telegram user, event, reason, persona id)
OnEvent = Callable[[int, str, str, str], Awaitable[None]]
OnBlocked = Callable[[int], Awaitable[None]]
# the operator's plan rules: may this Telegram user get a check-in for this reason ("event"/"silence")?
Allowed = Callable[[int, str], Awaitable[bool]]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class CheckinSender:
    def __init__(
        self,
        bot: Bot,
        companion: Companion,
        checkins: Checkins,
        locks: UserLocks | None = None,
        *,
        worker: str | None = None,
        on_event: OnEvent | None = None,
        on_blocked: OnBlocked | None = None,
        allowed: Allowed | None = None,
    ) -> None:
        self.bot, self.companion, self.checkins = bot, companion, checkins
        self.locks = locks or LocalUserLocks()
        self.worker = worker or worker_name()
        self.on_event, self.on_blocked, self.allowed = on_event, on_blocked, allowed
        self._scheduler: AsyncIOScheduler | None = None

    def start(self, every_s: float) -> None:
        """Tick every ``every_s`` on this event loop until :meth:`stop`."""
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._tick_safely,
            IntervalTrigger(seconds=every_s, timezone=UTC),
            id="dora-checkins",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def _tick_safely(self) -> None:
        try:
            await self.tick()
        except Exception as exc:  # the database is away: next tick
            log.warning("presence: a check-in round failed (%s)", type(exc).__name__)

    async def tick(self, now: datetime | None = None) -> int:
        """Send what is due now; how many went out."""
        now = now or self.checkins.clock()
        sent = 0
        for due in await self.checkins.take(now, self.worker, "telegram"):
            sent += await self._deliver(due, now)
        return sent

    async def _deliver(self, due: Due, now: datetime) -> int:
        chat_id = telegram_id(due.user_id)
        if chat_id is None:
            await self.checkins.cancel(due, "not a telegram user")
            return 0
        if self.allowed is not None and not await self.allowed(chat_id, due.reason):
            await self.checkins.cancel(due, "not in the user's plan")
            return 0
        try:
            async with self.locks.hold(f"turn:{chat_id}"):
                text = await self.companion.write_first(due, now)
                if text is None:
                    await self.checkins.cancel(due, "forgotten")
                    return 0
                for piece in split_message(text):
                    await self.bot.send_message(chat_id, piece)
                await self.checkins.sent(due, self.worker, now)
                await self.companion.said_first(due, text)
        except TelegramForbiddenError:
            log.info("presence: the user blocked the bot; no check-ins until they write")
            await self.checkins.store.set_blocked(due.user_id, True)
            await self.checkins.cancel(due, "blocked")
            if self.on_blocked is not None:
                await self.on_blocked(chat_id)
            return 0
        except (TelegramServerErr, TelegramNetworkError, TelegramRetryAfter) as exc:
            log.warning("presence: a check-in could not be sent yet (%s)", type(exc).__name__)
            await self.checkins.release(due, self.worker)
            return 0
        log.info("presence: a check-in went out (%s)", due.reason)
        if self.on_event is not None:
            try:
                await self.on_event(chat_id, "checkin_sent", due.reason, due.persona_id)
            except Exception as exc:
                log.warning("presence: recording a check-in failed (%s)", type(exc).__name__)
        return 1
