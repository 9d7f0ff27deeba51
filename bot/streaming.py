"""A reply that grows in the chat while the model writes it.

Telegram's own way is ``sendMessageDraft`` (Bot API 9.3, private chats): an ephemeral preview that
the final ``sendMessage`` replaces. A server without it (an older self-hosted ``telegram-bot-api``
answers 404 for a method it does not know) or a draft that fails for any other reason falls back to
one real message edited as tokens arrive (``editMessageText``). Either way the last word is the
reply the agent settled on, sent or edited in whole: the model's stream may differ from it (the
persona's name cut off the start, a stop sequence, an apology after a stalled stream), so what was
previewed is never taken as the answer.

Why a pump task: Telegram calls take tens of milliseconds to seconds (the retry middleware waits out
a 429), and the agent's stream must never wait for them. Tokens only update ``text``; one task per
reply sends the newest text at most once per interval, so a fast model costs the same few calls as a
slow one. At most one preview a second per chat by default: Telegram's flood limits answer 429 beyond
roughly that for edits of one chat, and each preview is a Bot API request the bot pays for (under
``dora bench bot``, drafts every 0.4 s cost 3–10 % of a turn's CPU; a reply a CPU model writes for 10 s
would make that dozens of requests). Once a second still reads as writing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
)

from bot.replies import split_message

log = logging.getLogger(__name__)


@dataclass
class StreamOptions:
    """How replies stream: ``enabled`` off sends each reply whole when it is done (as before);
    ``interval_s`` spaces a chat's previews, drafts and edits alike (see the module docstring)."""

    enabled: bool = True
    interval_s: float = 1.0


class DraftSupport:
    """Whether this worker's Bot API server knows ``sendMessageDraft``: learned from the first 404,
    so every later reply goes straight to edits instead of asking again."""

    def __init__(self) -> None:
        self.available = True


class ReplyStream:
    """One reply being written to one chat: :meth:`feed` the pieces as they come, then
    :meth:`finish` with the whole reply (or :meth:`close` to leave the chat as the preview left it)."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        options: StreamOptions,
        drafts: DraftSupport,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot, self.chat_id, self.options, self.drafts = bot, chat_id, options, drafts
        self.clock = clock
        self.mode = "draft" if drafts.available else "edit"
        self.blocked: TelegramForbiddenError | None = None  # the user blocked the bot while it wrote
        self._draft_id = secrets.randbelow(2**31 - 1) + 1  # non-zero, per reply
        self._text = ""
        self._shown = ""  # the text the chat shows now (draft or edited messages)
        self._messages: list[tuple[int, str]] = []  # edit mode: (message id, text) of each piece
        self._changed = asyncio.Event()
        self._closing = False
        self._next_at = 0.0
        self._pump: asyncio.Task[None] | None = None
        self._creating = False  # a sendMessage of the fallback is in flight

    def feed(self, piece: str) -> None:
        """Another piece of the reply; the chat shows it on the pump's next round."""
        if not piece:
            return
        self._text += piece
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run())
        self._changed.set()

    async def close(self) -> None:
        """Stop previewing. A preview in flight is cancelled (a draft or an edit changes nothing that
        the end does not redo, and one held up by a 429 must not hold up the reply), except a message
        being created: cancelled, it could exist with an id we never learn and show twice."""
        self._closing = True
        self._changed.set()
        if self._pump is not None:
            if not self._creating:
                self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    async def finish(self, final: str) -> list[int]:
        """Leave ``final`` in the chat, split under Telegram's limits: new messages after a draft (the
        first one replaces it), the streamed messages edited into it after the fallback. The ids of
        the messages that hold it, in order. Raises ``TelegramForbiddenError`` if the user blocked
        the bot meanwhile."""
        await self.close()
        if self.blocked is not None:
            raise self.blocked
        pieces = split_message(final)
        if not self._messages:  # drafts (the first message replaces the preview), or nothing shown
            return [(await self.bot.send_message(self.chat_id, piece)).message_id for piece in pieces]
        ids: list[int] = []
        for i, piece in enumerate(pieces):
            if i < len(self._messages):
                ids.append(await self._settle(i, piece))
            else:
                ids.append((await self.bot.send_message(self.chat_id, piece)).message_id)
        for message_id, _ in self._messages[len(pieces) :]:  # the final reply is shorter
            try:
                await self.bot.delete_message(self.chat_id, message_id)
            except TelegramBadRequest as exc:
                log.info("bot: a streamed piece could not be deleted (%s)", type(exc).__name__)
        return ids

    async def _settle(self, i: int, piece: str) -> int:
        """The streamed message ``i`` made to say ``piece``; the id of the message that now does."""
        message_id, shown = self._messages[i]
        if shown == piece:
            return message_id
        try:
            await self.bot.edit_message_text(piece, chat_id=self.chat_id, message_id=message_id)
        except TelegramBadRequest as exc:
            if "not modified" in str(exc):
                return message_id
            # the user deleted the streamed message, or it can no longer be edited: send it anew
            log.info("bot: a streamed message could not be finished (%s)", type(exc).__name__)
            return (await self.bot.send_message(self.chat_id, piece)).message_id
        return message_id

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._closing:
                return
            wait = self._next_at - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)  # a later piece is folded into this round
                if self._closing:
                    return
            text = self._text
            try:
                await (self._show_draft(text) if self.mode == "draft" else self._show_edits(text))
            except TelegramForbiddenError as exc:
                self.blocked = exc
                return
            except TelegramRetryAfter as exc:  # past the retry middleware's patience: skip a while
                self._next_at = self.clock() + exc.retry_after
                self._changed.set()
                continue
            except (TelegramAPIError, TelegramNetworkError) as exc:
                if not self._fell_back(exc):
                    return
                self._changed.set()  # show the text again, now by edits
                continue
            self._next_at = self.clock() + self.options.interval_s

    def _fell_back(self, exc: BaseException) -> bool:
        """A draft failed: edits from now on (True). An edit failed: no more previews (False); the
        end still tries to edit what was shown into the reply, and sends it anew where it can't."""
        if self.mode == "draft":
            if isinstance(exc, TelegramNotFound):  # the server does not know the method
                self.drafts.available = False
                log.info("bot: the Bot API server has no sendMessageDraft; streaming by edits")
            else:
                log.info("bot: a draft failed (%s); streaming this reply by edits", type(exc).__name__)
            self.mode = "edit"
            self._shown = ""
            return True
        log.info("bot: a streamed edit failed (%s); previews stop for this reply", type(exc).__name__)
        return False

    async def _show_draft(self, text: str) -> None:
        pieces = split_message(text)
        shown = pieces[-1] if pieces else ""  # a long reply: the piece being written
        if not shown or shown == self._shown:
            return
        await self.bot.send_message_draft(self.chat_id, self._draft_id, text=shown)
        self._shown = shown

    async def _show_edits(self, text: str) -> None:
        for i, piece in enumerate(split_message(text)):
            if i < len(self._messages):
                message_id, shown = self._messages[i]
                if shown != piece:
                    await self.bot.edit_message_text(piece, chat_id=self.chat_id, message_id=message_id)
                    self._messages[i] = (message_id, piece)
            else:
                self._creating = True
                try:
                    sent = await self.bot.send_message(self.chat_id, piece)
                finally:
                    self._creating = False
                self._messages.append((sent.message_id, piece))
