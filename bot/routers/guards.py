"""Updates the bot does not take: groups and channels, edited messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

router = Router(name="guards")


@router.message(F.chat.type != "private")
async def not_private(message: Message) -> None:
    await message.answer(_("I only talk in private chats. Write to me directly 🙂"))


@router.edited_message()
async def edited(message: Message) -> None:
    await message.answer(_("I don't see edits to old messages: just send the new text."))
