"""/start and onboarding: greeting, "not a doctor", the documents and consent; /help, /lang."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.deps import BotDeps
from bot.keyboards import ChannelCb, ConsentCb, LangCb, consent_keyboard, language_keyboard
from bot.legal import DOCUMENTS, VERSIONS, text
from bot.middlewares.channel import is_member
from bot.replies import split_message
from bot.routers.personas import show_picker


def welcome() -> str:
    return _(
        "Hi! I'm DORA: a companion who listens, chats and remembers what matters to you. "
        "You pick who you talk to: a caring friend, a romantic partner, a coach to rehearse hard "
        "conversations with, and more.\n\n"
        "Important: I am an AI, not a doctor or psychologist, and I don't replace one. "
        "If you are in danger, call 112.\n\n"
        "Please read the Terms and the Privacy Policy and accept them to start."
    )


async def start(message: Message, deps: BotDeps, account: User) -> None:
    await deps.accounts.record_event(account.id, "start")
    if await deps.accounts.has_consented(account.id, VERSIONS):
        await message.answer(_("Welcome back! Who would you like to talk to?"))
        await show_picker(message, deps, account, index=0)
        return
    await message.answer(welcome(), reply_markup=consent_keyboard())


async def show_document(query: CallbackQuery, callback_data: ConsentCb, account: User) -> None:
    await query.answer()
    if query.message:
        for piece in split_message(text(callback_data.action, account.language)):
            await query.message.answer(piece)


async def accept(query: CallbackQuery, deps: BotDeps, account: User) -> None:
    now = datetime.now(UTC)
    for document, version in VERSIONS.items():
        await deps.accounts.record_consent(account.id, document, version, now)
    await deps.accounts.record_event(account.id, "consent", now)
    await query.answer(_("Thank you!"))
    if query.message:
        await query.message.answer(
            _("Thank you! Now choose who you'd like to talk to.")
            + "\n\n"
            + _(
                "Now and then I'll write first: to ask how something you told me about went, or after "
                "a few quiet days. /checkins off turns that off, /timezone sets your time zone."
            )
        )
        await show_picker(query.message, deps, account, index=0)


async def documents(message: Message, account: User) -> None:
    document = "terms" if (message.text or "").startswith("/terms") else "privacy"
    for piece in split_message(text(document, account.language)):
        await message.answer(piece)


async def help_command(message: Message) -> None:
    await message.answer(
        _(
            "Just write to me, or send a voice message.\n\n"
            "/persona: choose who you talk to\n"
            "/memory: what I remember about you (you can delete any of it)\n"
            "/export: all your data as a file\n"
            "/forget: delete everything about you\n"
            "/pro: PRO subscription\n"
            "/adult: 18+ conversations (PRO, adults only)\n"
            "/share_for_training: let my operator learn from our conversations (off unless you turn it on)\n"
            "/lang: language\n"
            "/terms, /privacy: the documents\n"
            "/paysupport: payment questions and refunds"
        )
    )


async def lang(message: Message) -> None:
    await message.answer(_("Choose the language:"), reply_markup=language_keyboard())


async def set_lang(query: CallbackQuery, callback_data: LangCb, deps: BotDeps, account: User) -> None:
    await deps.accounts.set_language(account.id, callback_data.code)
    await query.answer()
    if query.message:
        done = "Готово: говорим по-русски." if callback_data.code == "ru" else "Done: English it is."
        await query.message.answer(done)


async def recheck_channel(query: CallbackQuery, bot: Bot, deps: BotDeps) -> None:
    channel = deps.config.required_channel
    ok = not channel or await is_member(bot, channel, query.from_user.id, deps.channel_cache, fresh=True)
    await query.answer(_("Thank you! Write to me.") if ok else _("I don't see the subscription yet."))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.callback_query.register(show_document, ConsentCb.filter(F.action.in_(DOCUMENTS)))
    router.callback_query.register(accept, ConsentCb.filter(F.action == "accept"))
    router.message.register(documents, Command("terms", "privacy"))
    router.message.register(help_command, Command("help"))
    router.message.register(lang, Command("lang"))
    router.callback_query.register(set_lang, LangCb.filter(F.code.in_(("ru", "en"))))
    router.callback_query.register(recheck_channel, ChannelCb.filter(F.action == "check"))
    return router
