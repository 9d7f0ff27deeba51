"""The persona picker: photo cards browsed with inline buttons; /persona switches later."""

from __future__ import annotations

from contextlib import suppress

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, FSInputFile, InputMediaPhoto, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.deps import BotDeps
from bot.identity import agent_user_id
from bot.keyboards import PersonaCb, persona_keyboard
from bot.replies import CAPTION_LIMIT
from personas.card import PersonaCard


def _caption(card: PersonaCard, lang: str) -> str:
    description = card.substitute(card.data.description, lang=lang).strip()
    head = f"{card.name}\n{card.tagline(lang)}\n\n"
    room = CAPTION_LIMIT - len(head) - 1
    if len(description) > room:
        description = description[: room - 1].rsplit(" ", 1)[0] + "…"
    return head + description


def _photo(card: PersonaCard) -> FSInputFile | None:
    free = card.photos(include_pro=False)
    return FSInputFile(card.photo_path(free[0])) if free else None


async def show_picker(message: Message, deps: BotDeps, account: User, index: int) -> None:
    cards = deps.companion.personas.list()
    index %= len(cards)
    card = cards[index]
    photo = _photo(card)
    markup = persona_keyboard(index, len(cards))
    if photo is None:
        await message.answer(_caption(card, account.language), reply_markup=markup)
    else:
        await message.answer_photo(photo, caption=_caption(card, account.language), reply_markup=markup)


async def persona_command(message: Message, deps: BotDeps, account: User) -> None:
    await show_picker(message, deps, account, index=0)


async def browse(query: CallbackQuery, callback_data: PersonaCb, deps: BotDeps, account: User) -> None:
    cards = deps.companion.personas.list()
    index = callback_data.index % len(cards)
    card = cards[index]
    await query.answer()
    photo = _photo(card)
    if query.message is None or photo is None:
        return
    with suppress(TelegramBadRequest):  # "message is not modified": the same card again
        await query.message.edit_media(  # type: ignore[union-attr]
            InputMediaPhoto(media=photo, caption=_caption(card, account.language)),
            reply_markup=persona_keyboard(index, len(cards)),
        )


async def pick(query: CallbackQuery, callback_data: PersonaCb, deps: BotDeps, account: User) -> None:
    cards = deps.companion.personas.list()
    card = cards[callback_data.index % len(cards)]
    await deps.accounts.set_persona(account.id, card.id)
    await deps.accounts.record_event(account.id, "persona_chosen", persona_id=card.id)
    await query.answer(card.name)
    greeting = await deps.companion.greet(agent_user_id(account.id), card.id, account.language)
    if query.message:
        if greeting is None:
            greeting = _("{name} is here again. Write whenever you like.").format(name=card.name)
        await query.message.answer(greeting)


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="personas")
    router.message.register(persona_command, Command("persona"))
    router.callback_query.register(browse, PersonaCb.filter(F.action == "show"))
    router.callback_query.register(pick, PersonaCb.filter(F.action == "pick"))
    return router
