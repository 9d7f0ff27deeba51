"""/memory (see and delete facts), /forget (delete everything), /export (all data as JSON)."""

from __future__ import annotations

import json

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.data_rights import export_user, wipe_user
from bot.db.models import User
from bot.deps import BotDeps
from bot.identity import agent_user_id
from bot.keyboards import ForgetCb, MemoryCb, forget_keyboard

PAGE = 5


def _page(deps: BotDeps, account: User, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    facts = deps.companion.facts(agent_user_id(account.id))
    if not facts:
        return _("I don't remember any facts about you yet."), None
    pages = (len(facts) + PAGE - 1) // PAGE
    page = max(0, min(page, pages - 1))
    shown = facts[page * PAGE : (page + 1) * PAGE]
    lines = [_("What I remember about you ({page}/{pages}):").format(page=page + 1, pages=pages)]
    kb = InlineKeyboardBuilder()
    for n, fact in enumerate(shown, start=1 + page * PAGE):
        lines.append(f"{n}. {fact.text} ({fact.updated_at:%d.%m.%Y})")
        kb.button(text=f"🗑 {n}", callback_data=MemoryCb(action="del", page=page, memory_id=fact.id))
    if page > 0:
        kb.button(text="◀", callback_data=MemoryCb(action="page", page=page - 1))
    if page < pages - 1:
        kb.button(text="▶", callback_data=MemoryCb(action="page", page=page + 1))
    kb.adjust(PAGE, 2)
    return "\n".join(lines), kb.as_markup()


async def memory_command(message: Message, deps: BotDeps, account: User) -> None:
    text, markup = _page(deps, account, 0)
    await message.answer(text, reply_markup=markup)


async def memory_callback(
    query: CallbackQuery, callback_data: MemoryCb, deps: BotDeps, account: User
) -> None:
    if callback_data.action == "del":
        deleted = deps.companion.forget_fact(agent_user_id(account.id), callback_data.memory_id)
        await query.answer(_("Deleted.") if deleted else _("Already gone."))
    else:
        await query.answer()
    text, markup = _page(deps, account, callback_data.page)
    if query.message:
        await query.message.edit_text(text, reply_markup=markup)  # type: ignore[union-attr]


async def forget_command(message: Message) -> None:
    await message.answer(
        _(
            "This deletes everything I know about you: our conversations with every persona, memories, "
            "settings and account. It can't be undone. Are you sure?"
        ),
        reply_markup=forget_keyboard(),
    )


async def forget_callback(
    query: CallbackQuery, callback_data: ForgetCb, deps: BotDeps, account: User
) -> None:
    await query.answer()
    if query.message is None:
        return
    if not callback_data.confirm:
        await query.message.answer(_("Nothing was deleted."))
        return
    await deps.conversations.idle(account.id)
    await wipe_user(deps.accounts, deps.companion, account.id)
    await query.message.answer(
        _("Done: everything about you is deleted. Send /start if you want to begin again.")
    )


async def export_command(message: Message, deps: BotDeps, account: User) -> None:
    await deps.conversations.idle(account.id)
    data = await export_user(deps.accounts, deps.companion, account.id)
    payload = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    await message.answer_document(
        BufferedInputFile(payload, filename="dora-export.json"), caption=_("All your data, as JSON.")
    )


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="memory")
    router.message.register(memory_command, Command("memory"))
    router.callback_query.register(memory_callback, MemoryCb.filter())
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_callback, ForgetCb.filter())
    router.message.register(export_command, Command("export"))
    return router
