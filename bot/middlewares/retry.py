"""Telegram's bad moments are waited out, not passed on to the user as lost replies.

A 429 is honoured (wait ``retry_after``, send again); a 5xx or a network error is retried with
exponential backoff. Only after ``attempts`` does the error reach the caller, and a chat turn then
stays in the inbox to be sent later (see :mod:`bot.conversation`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

log = logging.getLogger(__name__)


class TelegramRetryMiddleware(BaseRequestMiddleware):
    def __init__(self, attempts: int = 5, max_wait_s: float = 60.0, backoff_s: float = 0.5) -> None:
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: TelegramMethod[Any]
    ) -> Response[Any]:
        for attempt in range(self.attempts):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts - 1 or exc.retry_after > self.max_wait_s:
                    raise
                wait: float = exc.retry_after
                log.warning("telegram: 429 on %s, waiting %s s", type(method).__name__, wait)
            except (TelegramServerError, TelegramNetworkError) as exc:
                if attempt == self.attempts - 1:
                    raise
                wait = self.backoff_s * 2**attempt
                log.warning(
                    "telegram: %s on %s, again in %.1f s", type(exc).__name__, type(method).__name__, wait
                )
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")
