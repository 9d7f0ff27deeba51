"""Talking to the agent from Telegram: one reply at a time per user, nothing dropped.

Messages that arrive while a reply is being written are queued and answered together, in order,
as one turn (people often send a thought in three quick messages). The aiogram handler only
queues and returns, so the dispatcher stays free for other users. With several workers, a per-user
lock (Redis) keeps one user's turns one at a time across all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import BufferedInputFile
from aiogram.utils.chat_action import ChatActionSender

from agent.companion import Companion
from agent.locks import LocalUserLocks, UserLocks
from agent.photos import PhotoOut
from agent.safety import UserFlags
from bot.replies import CAPTION_LIMIT, split_message

log = logging.getLogger(__name__)


@dataclass
class Pending:
    texts: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    request: TurnRequest | None = None  # the latest: persona and flags as of the newest message


@dataclass
class TurnRequest:
    chat_id: int
    user_id: str
    persona_id: str
    flags: UserFlags


OnBlocked = Callable[[int], Awaitable[None]]


class Conversations:
    def __init__(
        self,
        bot: Bot,
        companion: Companion,
        on_blocked: OnBlocked | None = None,
        locks: UserLocks | None = None,
    ) -> None:
        self.bot = bot
        self.companion = companion
        self.on_blocked = on_blocked
        self.locks = locks or LocalUserLocks()
        self._pending: dict[int, Pending] = {}

    def submit(self, request: TurnRequest, text: str) -> None:
        """Queue ``text`` for the user; starts a writer for them unless one is already running."""
        pending = self._pending.setdefault(request.chat_id, Pending())
        pending.texts.append(text)
        pending.request = request
        if pending.task is None or pending.task.done():
            pending.task = asyncio.get_running_loop().create_task(self._run(pending))

    async def _run(self, pending: Pending) -> None:
        while pending.texts and pending.request is not None:
            texts, pending.texts = pending.texts, []
            request = pending.request
            try:
                async with self.locks.hold(f"turn:{request.chat_id}"):
                    await self._answer(request, "\n".join(texts))
            except TelegramForbiddenError:
                log.info("telegram: the user blocked the bot")
                if self.on_blocked:
                    await self.on_blocked(request.chat_id)
                pending.texts.clear()
            except Exception as exc:
                log.error("bot: a turn failed (%s)", type(exc).__name__)  # no message text in logs
                log.debug("bot: traceback", exc_info=True)
                await self.bot.send_message(request.chat_id, _error_text())

    async def _answer(self, request: TurnRequest, text: str) -> None:
        reply: list[str] = []
        notices: list[str] = []
        photos: list[PhotoOut] = []
        async with ChatActionSender.typing(bot=self.bot, chat_id=request.chat_id):
            async for event in self.companion.turn(request.user_id, request.persona_id, text, request.flags):
                if event.kind in ("reply", "apology"):
                    reply.append(event.text)
                elif event.kind == "notice":
                    notices.append(event.text)
                elif event.kind == "photo" and event.photo is not None:
                    photos.append(event.photo)
        for notice in notices:
            await self.bot.send_message(request.chat_id, notice)
        for piece in split_message("\n".join(reply)):
            await self.bot.send_message(request.chat_id, piece)
        for photo in photos:
            await self._send_photo(request.chat_id, photo)

    async def _send_photo(self, chat_id: int, photo: PhotoOut) -> None:
        """A photo with its caption; a photo that can't be read or sent is skipped, the reply stands."""
        from tools.photos import prepare_for_telegram

        try:
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
            p.task
            for cid, p in self._pending.items()
            if (chat_id is None or cid == chat_id) and p.task and not p.task.done()
        ]:
            await asyncio.gather(*tasks, return_exceptions=True)


def _error_text() -> str:
    from aiogram.utils.i18n import gettext as _

    return _("Something went wrong on my side. Please write that again in a moment.")
