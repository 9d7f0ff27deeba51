"""What users think of the replies: 👍/👎 reactions (or the 🙂/🙁 row), "answer again" after a 👎,
and ``/share_for_training``, the opt-in that lets the operator learn from their conversations.

Reactions arrive as ``message_reaction`` updates (private chats; Telegram sends them only to bots
that ask for them, which aiogram does because a handler is registered here). A rating is kept for
every user, with no text; the conversation itself is kept only for users who share it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, MessageReactionUpdated, ReactionTypeEmoji
from aiogram.utils.i18n import gettext as _

from bot.conversation import TurnRequest
from bot.db.feedback import DOWN, UP
from bot.db.models import Reply, User
from bot.deps import BotDeps, flags_for
from bot.keyboards import RateCb, RegenCb, TrainingCb, regenerate_keyboard, training_keyboard
from bot.routers.chat import limit_reached, within_free_limit
from personas.modules import Module

EMOJI = {"👍": UP, "👎": DOWN}
OFF_WORDS = ("off", "выкл", "нет", "stop", "стоп")


def rating_of(reactions: list[object] | None) -> int | None:
    """The 👍 or 👎 among a message's reactions (the last one set wins); None when neither."""
    value = None
    for reaction in reactions or []:
        if isinstance(reaction, ReactionTypeEmoji) and reaction.emoji in EMOJI:
            value = EMOJI[reaction.emoji]
    return value


async def _rate(deps: BotDeps, account: User, reply: Reply, value: int | None, source: str) -> None:
    assert deps.feedback is not None
    await deps.feedback.store.rate(reply, value, source)
    if value is not None:  # the funnel learns that a rating happened: labels only
        kind = "up" if value == UP else "down"
        await deps.accounts.record_event(account.id, "rating", persona_id=reply.persona_id, kind=kind)


async def _own_reply(deps: BotDeps, account: User | None, chat_id: int, message_id: int) -> Reply | None:
    if deps.feedback is None or account is None:
        return None
    reply = await deps.feedback.store.reply(chat_id, message_id)
    return reply if reply is not None and reply.user_id == account.id else None


async def _latest(deps: BotDeps, reply: Reply) -> bool:
    """Whether the reply answers the chat's newest message: only such a reply can be answered again."""
    assert deps.feedback is not None
    latest = await deps.feedback.store.latest_reply(reply.chat_id)
    return latest is not None and latest.turn_id == reply.turn_id


async def reaction(
    event: MessageReactionUpdated, bot: Bot, deps: BotDeps, account: User | None = None
) -> None:
    if event.chat.type != "private":
        return
    new, old = rating_of(event.new_reaction), rating_of(event.old_reaction)
    if new is None and old is None:  # some other emoji: not a rating
        return
    reply = await _own_reply(deps, account, event.chat.id, event.message_id)
    if reply is None or account is None:  # a greeting, a check-in, a notice: not a model's reply to rate
        return
    await _rate(deps, account, reply, new, "reaction")
    if new == DOWN and await _latest(deps, reply):
        await bot.send_message(
            event.chat.id,
            _("Sorry that missed. Shall I answer that again?"),
            reply_markup=regenerate_keyboard(event.message_id),
        )


async def rate_button(query: CallbackQuery, callback_data: RateCb, deps: BotDeps, account: User) -> None:
    message = query.message
    reply = None if message is None else await _own_reply(deps, account, message.chat.id, message.message_id)
    if reply is None or message is None:
        await query.answer()
        return
    value = UP if callback_data.value == "up" else DOWN
    await _rate(deps, account, reply, value, "button")
    if value == UP:
        await query.answer(_("Thank you!"))
        await message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]
    else:
        await query.answer()
        again = regenerate_keyboard(message.message_id) if await _latest(deps, reply) else None
        await message.edit_reply_markup(reply_markup=again)  # type: ignore[union-attr]


async def regenerate(query: CallbackQuery, callback_data: RegenCb, deps: BotDeps, account: User) -> None:
    message = query.message
    if message is None or deps.feedback is None:
        await query.answer()
        return
    chat_id = message.chat.id
    reply = await _own_reply(deps, account, chat_id, callback_data.message_id)
    latest = await deps.feedback.store.latest_reply(chat_id)
    if reply is None or latest is None or latest.turn_id != reply.turn_id:
        await query.answer(_("I can only answer your latest message again."), show_alert=True)
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]
    if await deps.feedback.store.rating(chat_id, reply.message_id) is None:
        await _rate(deps, account, reply, DOWN, "button")  # asking again says the first one missed
    now = datetime.now(UTC)
    pro = await deps.accounts.is_pro(account.id, now)
    personas = deps.companion.personas
    if reply.persona_id not in personas:
        return
    card = personas.get(reply.persona_id)
    # another answer is another message to the persona: the free plan's daily limit counts it
    if card.module is Module.PARTNER and not pro and not await within_free_limit(deps, account, now):
        await message.answer(limit_reached(card.name))
        return
    request = TurnRequest(chat_id, account.id, reply.persona_id, flags_for(account, pro))
    deps.conversations.regenerate(request, reply.turn_id, latest.message_id)


def _explain(sharing: bool) -> str:
    text = _(
        "You can let the operator of this bot teach its model from our conversations. If you agree, "
        "from now on I keep each of my replies with the last few messages before it and your 👍 or 👎 "
        "(encrypted, like everything else). Names, addresses, phone numbers and e-mails are removed "
        "before anything is used. It is off unless you turn it on; /share_for_training off turns it "
        "off and deletes what was kept, at once. Details: /privacy"
    )
    state = _("Now: you share your conversations.") if sharing else _("Now: you don't share them.")
    return f"{text}\n\n{state}"


async def share_command(message: Message, command: CommandObject, deps: BotDeps, account: User) -> None:
    if deps.feedback is None:
        await message.answer(_("This bot does not learn from conversations."))
        return
    sharing = await deps.feedback.sharing(account.id)
    if (command.args or "").strip().lower() in OFF_WORDS:
        await _stop(message, deps, account, sharing)
        return
    await message.answer(_explain(sharing), reply_markup=training_keyboard(sharing))


async def _stop(message: Message, deps: BotDeps, account: User, sharing: bool) -> None:
    assert deps.feedback is not None
    if not sharing:
        await message.answer(_("You don't share your conversations for training; nothing is kept for it."))
        return
    await deps.feedback.stop_sharing(account.id)
    await deps.accounts.record_event(account.id, "training_off")
    await message.answer(
        _("Done: I no longer keep our conversations for training, and what I kept is deleted.")
    )


async def share_callback(
    query: CallbackQuery, callback_data: TrainingCb, deps: BotDeps, account: User
) -> None:
    await query.answer()
    message = query.message
    if message is None or deps.feedback is None:
        return
    await message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]
    sharing = await deps.feedback.sharing(account.id)
    if callback_data.action == "off":
        await _stop(message, deps, account, sharing)  # type: ignore[arg-type]
        return
    if not sharing:
        await deps.feedback.start_sharing(account.id)
        await deps.accounts.record_event(account.id, "training_on")
    await message.answer(
        _("Thank you! From now on our conversations help make me better. /share_for_training off stops it.")
    )


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="feedback")
    router.message_reaction.register(reaction)
    router.callback_query.register(rate_button, RateCb.filter())
    router.callback_query.register(regenerate, RegenCb.filter())
    router.message.register(share_command, Command("share_for_training"))
    router.callback_query.register(share_callback, TrainingCb.filter(F.action.in_(("on", "off"))))
    return router
