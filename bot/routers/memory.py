"""/memory (what DORA knows: see, search, delete), «забудь про…» confirmed, /forget (delete
everything), /export (all data as JSON)."""

from __future__ import annotations

import json

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from agent.memory_view import render
from bot.data_rights import export_user, wipe_user
from bot.db.models import User
from bot.deps import BotDeps
from bot.identity import agent_user_id
from bot.keyboards import MEMORY_ID_CHARS, ForgetCb, ForgetTopicCb, MemoryCb, fit_query, forget_keyboard

PAGE = 6


def _lang(account: User) -> str:
    return "en" if account.language == "en" else "ru"


def _page(
    deps: BotDeps, account: User, page: int, query: str = ""
) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = deps.companion.memory_lines(agent_user_id(account.id), _lang(account), query or None)
    if not lines:
        if query:
            return _('I don\'t remember anything about "{query}".').format(query=query), None
        return _("I don't remember anything about you yet."), None
    pages = (len(lines) + PAGE - 1) // PAGE
    page = max(0, min(page, pages - 1))
    shown = lines[page * PAGE : (page + 1) * PAGE]
    if query:
        title = _('What I remember about "{query}" ({page}/{pages}):')
    else:
        title = _("What I remember about you ({page}/{pages}):")
    text = [title.format(query=query, page=page + 1, pages=pages)]
    kb = InlineKeyboardBuilder()
    q = fit_query(query, page)
    for n, line in enumerate(shown, start=1 + page * PAGE):
        text.append(f"{n}. {render(line, _lang(account))}")
        memory_id = line.id[:MEMORY_ID_CHARS]
        kb.button(text=f"🗑 {n}", callback_data=MemoryCb(action="del", page=page, memory_id=memory_id, q=q))
    if page > 0:
        kb.button(text="◀", callback_data=MemoryCb(action="page", page=page - 1, q=q))
    if page < pages - 1:
        kb.button(text="▶", callback_data=MemoryCb(action="page", page=page + 1, q=q))
    kb.adjust(len(shown), 2)
    text.append(_("🗑 forgets a memory, and the messages it came from. Search: /memory cat"))
    return "\n".join(text), kb.as_markup()


async def memory_command(message: Message, deps: BotDeps, account: User, command: CommandObject) -> None:
    text, markup = _page(deps, account, 0, (command.args or "").strip())
    await message.answer(text, reply_markup=markup)


async def memory_callback(
    query: CallbackQuery, callback_data: MemoryCb, deps: BotDeps, account: User
) -> None:
    if callback_data.action == "del":
        user_id = agent_user_id(account.id)
        full = next(
            (
                line.id
                for line in deps.companion.memory_lines(user_id, _lang(account))
                if line.id.startswith(callback_data.memory_id)
            ),
            None,
        )
        if full is None:
            await query.answer(_("Already gone."))
        else:
            async with deps.conversations.locks.hold(f"turn:{account.id}"):  # not mid-reply
                result = await deps.companion.forget_memory(user_id, full)
            if deps.feedback is not None:  # training examples that hold it go too
                await deps.feedback.forgotten(account.id, result)
            await query.answer(_("Forgotten."))
    else:
        await query.answer()
    text, markup = _page(deps, account, callback_data.page, callback_data.q)
    if query.message:
        await query.message.edit_text(text, reply_markup=markup)  # type: ignore[union-attr]


async def forget_topic_callback(
    query: CallbackQuery, callback_data: ForgetTopicCb, deps: BotDeps, account: User
) -> None:
    """The answer to "forget this?" (asked after «забудь про кота»): forget, or keep everything."""
    user_id = agent_user_id(account.id)
    if not callback_data.confirm:
        await deps.companion.cancel_forget(user_id, callback_data.plan)
        await query.answer()
        text = _("All right, I keep it.")
    else:
        await query.answer()
        async with deps.conversations.locks.hold(f"turn:{account.id}"):  # not mid-reply
            result = await deps.companion.forget(user_id, callback_data.plan)
        if deps.feedback is not None:  # training examples that hold it go too
            await deps.feedback.forgotten(account.id, result)
        if result is None:
            text = _("That question has expired. Tell me again what to forget.")
        else:
            text = _("Done: I've forgotten it.")
    if query.message:
        await query.message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]
        await query.message.answer(text)


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
    router.callback_query.register(forget_topic_callback, ForgetTopicCb.filter())
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_callback, ForgetCb.filter())
    router.message.register(export_command, Command("export"))
    return router
