"""Optional gate: with DORA_REQUIRED_CHANNEL set, only the channel's members may chat.

Membership is asked of Telegram (``getChatMember``) and cached for a minute, so a busy user costs
one request a minute, and someone who just subscribed passes with the re-check button at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.keyboards import ChannelCb

log = logging.getLogger(__name__)
MEMBER_STATUSES = {"creator", "administrator", "member", "restricted"}
CACHE_S = 60.0


async def is_member(
    bot: Bot, channel: str, user_id: int, cache: dict[int, float], fresh: bool = False
) -> bool:
    now = time.monotonic()
    if not fresh and cache.get(user_id, 0.0) > now:
        return True
    try:
        member = await bot.get_chat_member(chat_id=channel, user_id=user_id)
    except TelegramAPIError as exc:  # the bot is not an admin there, or the channel is wrong
        log.warning("channel gate: getChatMember failed (%s); letting the user through", type(exc).__name__)
        return True
    ok = member.status in MEMBER_STATUSES
    if ok:
        cache[user_id] = now + CACHE_S
    else:
        cache.pop(user_id, None)
    return ok


def subscribe_keyboard(channel: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if channel.startswith("@"):
        kb.button(text=_("Subscribe"), url=f"https://t.me/{channel[1:]}")
    kb.button(text=_("I've subscribed"), callback_data=ChannelCb(action="check"))
    kb.adjust(1)
    return kb.as_markup()


class RequiredChannelMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        deps = data["deps"]
        channel = deps.config.required_channel
        user = data.get("event_from_user")
        if not channel or user is None or not isinstance(event, Message):
            return await handler(event, data)
        if await is_member(data["bot"], channel, user.id, deps.channel_cache):
            return await handler(event, data)
        await event.answer(
            _("To talk with me, please subscribe to {channel} first.").format(channel=channel),
            reply_markup=subscribe_keyboard(channel),
        )
        return None
