"""Talking: text and voice go to the agent; other media get a clear answer."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.types import Message, Update
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import gettext as _

from bot.conversation import TurnRequest
from bot.db.models import User
from bot.deps import BotDeps, flags_for
from bot.identity import agent_user_id
from bot.routers.personas import show_picker
from personas.modules import Module

log = logging.getLogger(__name__)
PARTNER_COUNTER = "partner_messages"


async def _submit(
    message: Message,
    text: str,
    deps: BotDeps,
    account: User,
    update: Update,
    kind: str = "text",
    *,
    unsure: bool = False,
) -> None:
    personas = deps.companion.personas
    if not account.persona_id or account.persona_id not in personas:
        await message.answer(_("First, choose who you'd like to talk to."))
        await show_picker(message, deps, account, index=0)
        return
    card = personas.get(account.persona_id)
    now = datetime.now(UTC)
    pro = await deps.accounts.is_pro(account.id, now)
    if card.module is Module.PARTNER and not pro and not await within_free_limit(deps, account, now):
        await message.answer(limit_reached(card.name))
        return
    request = TurnRequest(
        chat_id=message.chat.id, account_id=account.id, persona_id=card.id, flags=flags_for(account, pro)
    )
    await deps.accounts.record_event(account.id, "message", now, persona_id=card.id, kind=kind)
    await _seen(deps, account, card.id, now)
    if unsure:
        await message.answer(_heard(text))
    await deps.conversations.accept(request, text, update_id=update.update_id, unsure=unsure)


async def within_free_limit(deps: BotDeps, account: User, now: datetime) -> bool:
    """One more Partner message today on the free plan (counted): within the daily limit?"""
    used = await deps.accounts.increment_usage(account.id, PARTNER_COUNTER, now.date())
    return used <= deps.config.free_partner_daily_messages


def limit_reached(name: str) -> str:
    return _(
        "That's all the messages with {name} for today on the free plan. "
        "Come back tomorrow, talk to Dora (she's always free), or get /pro for no limits."
    ).format(name=name)


async def _seen(deps: BotDeps, account: User, persona_id: str, now: datetime) -> None:
    # `now` stamps the funnel; the check-ins' own clock stamps the message (a test moves it)
    """The user wrote: check-ins learn it (no check-in waits for an answer any more; silence starts
    over), and an answer to one within a day is a funnel event. Never worth the message itself."""
    checkins = deps.companion.checkins
    if checkins is None:
        return
    try:
        answered = await checkins.seen(agent_user_id(account.id), "telegram", persona_id, checkins.clock())
        if answered is not None:
            await deps.accounts.record_event(
                account.id, "checkin_answered", now, persona_id=answered.persona_id, kind=answered.reason
            )
    except Exception as exc:
        log.warning("presence: noting a message failed (%s)", type(exc).__name__)


async def text_message(message: Message, deps: BotDeps, account: User, event_update: Update) -> None:
    await _submit(message, message.text or "", deps, account, event_update)


def _too_long(limit: int) -> str:
    return _("That voice message is too long for me: up to {n} seconds, please.").format(n=limit)


async def voice_message(
    message: Message, bot: Bot, deps: BotDeps, account: User, event_update: Update
) -> None:
    from tools.speech import AudioEmptyError, AudioTooLongError, AudioUndecodableError

    voice = message.voice
    assert voice is not None
    limit = deps.config.voice_max_seconds
    if voice.duration > limit:
        await message.answer(
            _("That voice message is too long for me: up to {n} seconds, please.").format(n=limit)
        )
        return
    if voice.duration <= 0:
        await message.answer(_("I couldn't hear anything in that voice message."))
        return
    if deps.transcriber is None:
        await message.answer(_("I can't listen to voice messages here yet. Could you type it, please?"))
        return
    buffer = io.BytesIO()
    try:
        # "typing…" while it listens: transcription takes seconds on a CPU, and silence reads as ignored
        async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
            await bot.download(voice.file_id, destination=buffer)
            transcript = await deps.transcriber.transcribe_async(
                buffer.getvalue(), language=account.language, max_seconds=limit
            )
    except AudioTooLongError:
        await message.answer(
            _("That voice message is too long for me: up to {n} seconds, please.").format(n=limit)
        )
        return
    except AudioEmptyError:
        await message.answer(_("I couldn't hear anything in that voice message."))
        return
    except AudioUndecodableError:
        await message.answer(_("I couldn't play that voice message. Could you record it again or type it?"))
        return
    # Whisper unsure: the message is still answered, but no facts are learned from it, and the user
    # sees what was heard (to correct it by typing)
    await _submit(
        message, transcript.text, deps, account, event_update, kind="voice", unsure=transcript.unsure
    )


def _heard(text: str, limit: int = 3000) -> str:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return _('I heard: "{text}". If that\'s not what you said, please type it.').format(text=shown)


async def unsupported(message: Message) -> None:
    await message.answer(_("I can read text and listen to voice messages, but not this kind of message yet."))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="chat")
    router.message.register(text_message, F.text)
    router.message.register(voice_message, F.voice)
    router.message.register(unsupported)
    return router
