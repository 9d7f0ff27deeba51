"""Messages accepted from Telegram and not yet answered, kept in the bot's database until they are.

A handler stores the message here (encrypted) before Telegram is told the update was handled, and
the row goes only once the reply was sent, so a worker killed mid-turn loses nothing: a survivor,
or the same worker restarted, answers it. Taking messages into a turn marks them with the turn's
id (its first message's id); a turn retried after a crash takes exactly the same messages under
the same id, which lets the agent recognise a turn it had already answered (see
``Companion.turn(message_id=...)``) instead of answering twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.safety import UserFlags
from bot.db.models import PendingMessage
from memory.crypto import UserCipher

CipherFor = Callable[[int], UserCipher]


@dataclass
class Batch:
    """The messages of one turn, oldest first, with the request as of the newest."""

    id: str
    chat_id: int
    user_id: int
    persona_id: str
    flags: UserFlags
    texts: list[str]
    retried: bool = False  # taken before and not finished: its worker died, or Telegram was away
    unsure: bool = False  # one of its messages may be misheard (a voice note): no facts from this turn


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher_for: CipherFor) -> None:
        self._sessions = sessions
        self._cipher_for = cipher_for

    async def push(
        self,
        *,
        user_id: int,
        chat_id: int,
        text: str,
        persona_id: str,
        flags: UserFlags,
        update_id: int | None = None,
        now: datetime | None = None,
        unsure: bool = False,
    ) -> str | None:
        """Store a message; returns its id, or None when this update was stored before. ``unsure``:
        the text may be misheard (a voice note Whisper was unsure of)."""
        row_id = uuid.uuid4().hex
        row = PendingMessage(
            id=row_id,
            user_id=user_id,
            chat_id=chat_id,
            update_id=update_id,
            received_at=now or datetime.now(UTC),
            persona_id=persona_id,
            flags=json.dumps(asdict(flags), sort_keys=True),
            ciphertext=self._cipher_for(user_id).encrypt(text, f"inbox:{row_id}"),
            unsure=unsure,
        )
        try:
            async with self._sessions() as s, s.begin():
                s.add(row)
        except IntegrityError:
            if update_id is None:
                raise
            return None
        return row_id

    async def take(self, chat_id: int) -> Batch | None:
        """The chat's next turn: a turn taken before and not finished (a crash), else every message
        waiting, marked as one turn. None when nothing waits."""
        async with self._sessions() as s, s.begin():
            rows = await self._rows(s, chat_id)
            if not rows:
                return None
            claimed = [r for r in rows if r.batch is not None]
            retried = bool(claimed)
            if claimed:
                batch_id = claimed[0].batch
                rows = [r for r in claimed if r.batch == batch_id]
            else:
                batch_id = rows[0].id
                await s.execute(
                    update(PendingMessage)
                    .where(PendingMessage.id.in_([r.id for r in rows]))
                    .values(batch=batch_id)
                )
        assert batch_id is not None
        cipher = self._cipher_for(rows[0].user_id)
        newest = rows[-1]
        return Batch(
            id=batch_id,
            chat_id=chat_id,
            user_id=newest.user_id,
            persona_id=newest.persona_id,
            flags=UserFlags(**json.loads(newest.flags)),
            texts=[cipher.decrypt(r.ciphertext, f"inbox:{r.id}") for r in rows],
            retried=retried,
            unsure=any(r.unsure for r in rows),
        )

    async def done(self, batch_id: str) -> None:
        """The turn was answered: its messages go."""
        async with self._sessions() as s, s.begin():
            await s.execute(delete(PendingMessage).where(PendingMessage.batch == batch_id))

    async def waiting_chats(self, older_than_s: float = 0.0, now: datetime | None = None) -> list[int]:
        """Chats with messages waiting longer than ``older_than_s`` (what a crash left behind)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=older_than_s)
        async with self._sessions() as s:
            result = await s.execute(
                select(PendingMessage.chat_id).where(PendingMessage.received_at <= cutoff).distinct()
            )
            return [int(c) for c in result.scalars()]

    @staticmethod
    async def _rows(s: AsyncSession, chat_id: int) -> list[PendingMessage]:
        query = (
            select(PendingMessage)
            .where(PendingMessage.chat_id == chat_id)
            .order_by(PendingMessage.received_at, PendingMessage.id)
        )
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()  # two workers taking the same chat's turn: one waits
        return list((await s.execute(query)).scalars())
