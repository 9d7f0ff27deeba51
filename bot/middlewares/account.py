"""Loads (or creates) the user's account for every update and sets the i18n locale from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n


class AccountMiddleware(BaseMiddleware):
    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        deps = data["deps"]
        account = await deps.accounts.get_or_create_user(user.id, user.language_code)
        if account.blocked_bot:  # they write again: they unblocked us
            await deps.accounts.mark_blocked(user.id, False)
        data["account"] = account
        with self.i18n.context(), self.i18n.use_locale(account.language):
            return await handler(event, data)
