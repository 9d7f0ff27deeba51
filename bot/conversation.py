"""Talking to the agent from Telegram: one reply at a time per user, nothing dropped.

The aiogram handler stores the message in the inbox (see :mod:`bot.db.inbox`) and returns, so the
dispatcher stays free for other users; a runner per chat then answers what waits. Messages that
arrive while a reply is being written are answered together, in order, as one turn (people often
send a thought in three quick messages). With several workers, a per-user lock (Redis) keeps one
user's turns one at a time across all of them, and a worker killed mid-turn leaves its messages in
the inbox for :meth:`Conversations.recover` to answer. What that cannot promise: a worker killed in
the moment between Telegram taking the reply and the inbox row's deletion, or midway through a
reply split in several messages, has that reply sent again (whole) when the turn is recovered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile
from aiogram.utils.chat_action import ChatActionSender

from agent.companion import Companion, SafetyOutcome, TurnEvent
from agent.locks import LocalUserLocks, UserLocks
from agent.photo_choice import PhotoOut
from agent.safety import UserFlags
from bot.db.inbox import Batch, Inbox
from bot.identity import agent_user_id
from bot.replies import CAPTION_LIMIT, split_message
from bot.streaming import DraftSupport, ReplyStream, StreamOptions

log = logging.getLogger(__name__)


@dataclass
class TurnRequest:
    chat_id: int
    account_id: int  # the Telegram user
    persona_id: str
    flags: UserFlags

    @property
    def user_id(self) -> str:
        return agent_user_id(self.account_id)


OnBlocked = Callable[[int], Awaitable[None]]
# the Telegram user said they are under 18: mark the account (romance and 18+ off for good)
OnMinor = Callable[[int], Awaitable[None]]
# a sign of crisis in a turn, for the operator's funnel: (Telegram user, label, tier, persona id);
# labels only, never the message
OnCrisis = Callable[[int, str, str, str], Awaitable[None]]


@dataclass
class SentReply:
    """A reply that reached the chat, for the feedback bookkeeping (:mod:`bot.feedback`):
    ``message_ids`` hold it, in order (a rating lands on the last); ``turn_id`` is the message it
    answered (the agent's id for it); ``replaces``: the reply it regenerated; ``plain``: written by the
    model for the conversation (not a fixed crisis answer or an apology), so fit to learn from."""

    account_id: int
    chat_id: int
    persona_id: str
    turn_id: str
    text: str
    message_ids: list[int] = field(default_factory=list)
    replaces: int | None = None
    plain: bool = True
    retried: bool = False  # a turn taken again after a crash: its reply may have gone out before


# a reply was sent: remember it (its message id, and with the user's consent what it answered)
OnReply = Callable[[SentReply], Awaitable[None]]


class Conversations:
    def __init__(
        self,
        bot: Bot,
        companion: Companion,
        inbox: Inbox,
        on_blocked: OnBlocked | None = None,
        locks: UserLocks | None = None,
        *,
        on_minor: OnMinor | None = None,
        on_crisis: OnCrisis | None = None,
        streaming: StreamOptions | None = None,
        on_reply: OnReply | None = None,
        rating_buttons: bool = False,
    ) -> None:
        """The ``on_*`` callbacks keep the account database out of this module (the root,
        ``dora.wiring.bot``, wires them to :class:`bot.db.repo.Accounts`). ``streaming``: how a reply
        grows in the chat while it is written (see :mod:`bot.streaming`); on by default.
        ``rating_buttons``: a 🙂/🙁 row under each reply (the operator's choice; reactions work anyway)."""
        self.bot = bot
        self.companion = companion
        self.inbox = inbox
        self.on_blocked = on_blocked
        self.on_minor = on_minor
        self.on_crisis = on_crisis
        self.on_reply = on_reply
        self.rating_buttons = rating_buttons
        self.locks = locks or LocalUserLocks()
        self.streaming = streaming or StreamOptions()
        self._drafts = DraftSupport()
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._regenerating: dict[int, asyncio.Task[None]] = {}  # "answer again", per chat
        self._again: set[int] = set()

    async def accept(
        self, request: TurnRequest, text: str, update_id: int | None = None, *, unsure: bool = False
    ) -> None:
        """Store the message (from here on it can't be lost) and have the chat answered. ``unsure``:
        a voice note that may be misheard; its turn is answered, but no facts are learned from it."""
        await self.inbox.push(
            user_id=request.account_id,
            chat_id=request.chat_id,
            text=text,
            persona_id=request.persona_id,
            flags=request.flags,
            update_id=update_id,
            unsure=unsure,
        )
        self.kick(request.chat_id)

    def kick(self, chat_id: int) -> None:
        """Make sure a runner answers what waits for the chat (one runner per chat in a worker)."""
        task = self._runners.get(chat_id)
        if task is not None and not task.done():
            self._again.add(chat_id)  # it may have looked already: have it look once more
            return
        self._runners[chat_id] = asyncio.get_running_loop().create_task(self._run(chat_id))

    async def recover(self, every_s: float = 15.0, older_than_s: float = 10.0) -> None:
        """Answer what a crashed worker left (at start, then every ``every_s``); runs until cancelled."""
        first = True
        while True:
            try:
                for chat_id in await self.inbox.waiting_chats(0.0 if first else older_than_s):
                    self.kick(chat_id)
            except Exception as exc:
                log.warning("bot: looking for unanswered messages failed (%s)", type(exc).__name__)
            first = False
            await asyncio.sleep(every_s)

    async def _run(self, chat_id: int) -> None:
        while True:
            self._again.discard(chat_id)
            batch: Batch | None = None
            try:
                async with self.locks.hold(f"turn:{chat_id}"):  # one turn per user across workers
                    batch = await self.inbox.take(chat_id)
                    if batch is not None:
                        await self._answer(batch)
                        await self.inbox.done(batch.id)
            except TelegramForbiddenError:
                log.info("telegram: the user blocked the bot")
                if batch is not None:
                    await self.inbox.done(batch.id)
                if self.on_blocked:
                    await self.on_blocked(chat_id)
            except (TelegramServerError, TelegramNetworkError, TelegramRetryAfter) as exc:
                # Telegram is away past the retries: the turn stays in the inbox; the answer is in the
                # thread, so recover() sends it later without asking the model again
                log.warning("bot: a reply could not be sent yet (%s); it will be", type(exc).__name__)
                return
            except Exception as exc:
                log.error("bot: a turn failed (%s)", type(exc).__name__)  # no message text in logs
                log.debug("bot: traceback", exc_info=True)
                try:
                    if batch is not None:
                        await self.inbox.done(batch.id)  # asked to write again: not retried forever
                    await self.bot.send_message(chat_id, _error_text())
                except Exception as again:  # the database or Telegram is away too: recover() retries
                    log.warning("bot: could not report a failed turn (%s)", type(again).__name__)
                    return
            if batch is None and chat_id not in self._again:
                return

    async def _answer(self, batch: Batch) -> None:
        request = TurnRequest(batch.chat_id, batch.user_id, batch.persona_id, batch.flags)
        events = self.companion.turn(
            request.user_id,
            request.persona_id,
            "\n".join(batch.texts),
            request.flags,
            message_id=batch.id,
            retried=batch.retried,
            extract_facts=not batch.unsure,
        )
        await self._deliver(request, events, batch.id, retried=batch.retried)

    def regenerate(self, request: TurnRequest, turn_id: str, replaces: int) -> None:
        """Answer the message ``turn_id`` again (the user disliked reply ``replaces``): one more turn
        of the chat, under the user's lock and streamed like any reply, in a task of its own so the
        button press is answered at once (a reply takes seconds to write). Nothing is written when
        that message is no longer the newest in the thread (the conversation moved on)."""
        task = asyncio.get_running_loop().create_task(self._regenerate(request, turn_id, replaces))
        self._regenerating[request.chat_id] = task

    async def _regenerate(self, request: TurnRequest, turn_id: str, replaces: int) -> None:
        try:
            async with self.locks.hold(f"turn:{request.chat_id}"):
                events = self.companion.regenerate(
                    request.user_id, request.persona_id, turn_id, request.flags
                )
                if not await self._deliver(request, events, turn_id, replaces=replaces):
                    log.info("bot: nothing to answer again (the conversation moved on)")
        except TelegramForbiddenError:
            if self.on_blocked:
                await self.on_blocked(request.chat_id)
        except Exception as exc:  # the old reply is still in the thread: the user can ask again
            log.error("bot: answering again failed (%s)", type(exc).__name__)
            log.debug("bot: traceback", exc_info=True)
            try:
                await self.bot.send_message(request.chat_id, _error_text())
            except Exception as again:
                log.warning("bot: could not report a failed turn (%s)", type(again).__name__)

    async def _deliver(
        self,
        request: TurnRequest,
        events: AsyncIterator[TurnEvent],
        turn_id: str,
        *,
        replaces: int | None = None,
        retried: bool = False,
    ) -> bool:
        """Stream the turn's events into the chat; False when the turn gave nothing to send."""
        reply: list[str] = []
        notices: list[str] = []  # about the message (trimmed): sent once the turn is over, as before
        photos: list[PhotoOut] = []
        questions: list[TurnEvent] = []  # "forget this?": asked with buttons
        safety: SafetyOutcome | None = None
        apology = False
        stream = (
            ReplyStream(self.bot, request.chat_id, self.streaming, self._drafts)
            if self.streaming.enabled
            else None
        )
        try:
            async with ChatActionSender.typing(bot=self.bot, chat_id=request.chat_id):
                async for event in events:
                    if event.kind == "token" and stream is not None:
                        stream.feed(event.text)
                    elif event.kind in ("reply", "apology"):
                        reply.append(event.text)
                        safety = event.safety or safety
                        apology = apology or event.kind == "apology"
                    elif event.kind == "notice":
                        notices.append(event.text)
                    elif event.kind == "photo" and event.photo is not None:
                        photos.append(event.photo)
                    elif event.kind == "forget":
                        questions.append(event)
        except BaseException:
            if stream is not None:
                await stream.close()
            raise
        if safety is not None:  # before sending: a user who blocked the bot is still marked
            await self._record_safety(request, safety)
        for notice in notices:
            await self.bot.send_message(request.chat_id, notice)
        sent: list[int] = []
        if stream is not None:
            sent = await stream.finish("\n".join(reply))
        else:
            for piece in split_message("\n".join(reply)):
                sent.append((await self.bot.send_message(request.chat_id, piece)).message_id)
        for photo in photos:
            await self._send_photo(request.chat_id, photo)
        for question in questions:
            await self._ask_to_forget(request.chat_id, question)
        if reply and sent:
            plain = not apology and (safety is None or safety.crisis is None)
            await self._sent(
                SentReply(
                    request.account_id,
                    request.chat_id,
                    request.persona_id,
                    turn_id,
                    "\n".join(reply),
                    sent,
                    replaces,
                    plain,
                    retried,
                )
            )
        return bool(reply or notices or questions)

    async def _sent(self, reply: SentReply) -> None:
        """The feedback bookkeeping, then the rating row under a reply the model wrote (the row is
        there to be pressed: the reply must be known first). Neither is worth the reply itself, so a
        failure is logged (its type only) and the turn goes on."""
        if self.on_reply is not None:
            try:
                await self.on_reply(reply)
            except Exception as exc:
                log.warning("bot: recording a reply failed (%s)", type(exc).__name__)
        if self.rating_buttons and reply.plain:
            from bot.keyboards import rating_keyboard

            try:
                await self.bot.edit_message_reply_markup(
                    chat_id=reply.chat_id, message_id=reply.message_ids[-1], reply_markup=rating_keyboard()
                )
            except TelegramForbiddenError:
                raise
            except Exception as exc:
                log.warning("bot: the rating buttons could not be added (%s)", type(exc).__name__)

    async def _ask_to_forget(self, chat_id: int, question: TurnEvent) -> None:
        """What a «забудь про…» matches, with buttons to confirm (see bot.routers.memory)."""
        from bot.keyboards import forget_topic_keyboard

        plan = question.forget.plan_id if question.forget is not None else None
        markup = forget_topic_keyboard(plan) if plan else None
        pieces = split_message(question.text)
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            await self.bot.send_message(chat_id, piece, reply_markup=markup if last else None)

    async def _record_safety(self, request: TurnRequest, safety: SafetyOutcome) -> None:
        """Keep what the turn's safety rules saw on the account: a minor marked (once: the request's
        flags say whether the account already is), a crisis counted. Bookkeeping must never cost the
        user their reply, so a failure is logged (its type only) and the turn goes on. A retried turn
        whose answer was already in the thread carries no outcome, so nothing is counted twice."""
        if safety.minor and not request.flags.minor and self.on_minor is not None:
            try:
                await self.on_minor(request.account_id)
            except Exception as exc:
                log.warning("bot: marking an account as a minor failed (%s)", type(exc).__name__)
        if safety.crisis is not None and self.on_crisis is not None:
            label, tier = safety.crisis
            try:
                await self.on_crisis(request.account_id, label, tier, request.persona_id)
            except Exception as exc:
                log.warning("bot: recording a crisis event failed (%s)", type(exc).__name__)

    async def _send_photo(self, chat_id: int, photo: PhotoOut) -> None:
        """A photo with its caption; a photo that can't be read or sent is skipped, the reply stands."""
        from tools.photos import prepare_for_telegram

        try:
            async with ChatActionSender.upload_photo(bot=self.bot, chat_id=chat_id):
                data = (
                    photo.png
                    if photo.png is not None
                    else await asyncio.to_thread(prepare_for_telegram, photo.path)
                )
                name = "photo.png" if photo.png is not None else "photo.jpg"
                caption = photo.caption[: CAPTION_LIMIT - 1]
                await self.bot.send_photo(chat_id, BufferedInputFile(data, filename=name), caption=caption)
        except TelegramForbiddenError:
            raise
        except Exception as exc:
            log.warning("bot: a photo could not be sent (%s)", type(exc).__name__)

    async def idle(self, chat_id: int | None = None) -> None:
        """Wait until the chat's queued messages are answered (every chat's: shutdown, tests), so an
        export or a wipe sees the conversation whole without waiting on other users."""
        while tasks := [
            t
            for running in (self._runners, self._regenerating)
            for cid, t in running.items()
            if (chat_id is None or cid == chat_id) and not t.done()
        ]:
            await asyncio.gather(*tasks, return_exceptions=True)


def _error_text() -> str:
    from aiogram.utils.i18n import gettext as _

    return _("Something went wrong on my side. Please write that again in a moment.")
