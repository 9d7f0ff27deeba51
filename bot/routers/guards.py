"""Updates the bot does not take: groups and channels, edited messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message
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
