"""Nothing about a user's messages is processed or stored before they accept the documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.keyboards import consent_keyboard
from bot.legal import VERSIONS


class ConsentMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        account = data.get("account")
        if account is not None and await data["deps"].accounts.has_consented(account.id, VERSIONS):
            return await handler(event, data)
        if isinstance(event, Message):
            await event.answer(
                _("Before we talk, please read and accept the Terms and the Privacy Policy."),
                reply_markup=consent_keyboard(),
            )
        return None
