"""Updates the bot does not take: groups and channels, edited messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _


async def not_private(message: Message) -> None:
    await message.answer(_("I only talk in private chats. Write to me directly 🙂"))


async def edited(message: Message) -> None:
    await message.answer(_("I don't see edits to old messages: just send the new text."))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="guards")
    router.message.register(not_private, F.chat.type != "private")
    router.edited_message.register(edited)
    return router


async def stale_button(query: CallbackQuery) -> None:
    """A button whose payload no handler understands (outdated, or forged): say so, change nothing."""
    await query.answer(_("This button is out of date."), show_alert=False)


def build_fallback_router() -> Router:
    """Last in line: callback queries nobody else took."""
    router = Router(name="fallback")
    router.callback_query.register(stale_button)
    return router
