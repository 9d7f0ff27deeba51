"""What users thought of the replies, and what DORA keeps to learn from them.

Three kinds of rows (see :mod:`bot.db.models`): every reply the bot sent, by its Telegram message id
(no text: a reaction names only the chat and the message); the user's 👍/👎 on a reply; and, only while
the user shares their conversations for training, the example itself: the recent turns the reply
answered and the reply, encrypted with the user's key (the inbox's cipher, so a wipe shreds it too).
``dora train data`` reads them back through :meth:`Feedback.examples`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Rating, Reply, TrainingExample
from bot.db.repo import dialect_insert
from memory.crypto import UserCipher

CipherFor = Callable[[int], UserCipher]
UP, DOWN = 1, -1


@dataclass
class KeptExample:
    """One kept reply with what it answered: ``context`` is the recent turns up to and including the
    user's message, oldest first (``{"role": "user"|"assistant", "content", "id"}``); ``rating`` and
    ``replaces`` (the message id of the reply it regenerated) come from the plain rows."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    persona_id: str
    lang: str
    kept_at: datetime
    context: list[dict[str, str]]
    reply: str
    rating: int | None = None
    replaces: int | None = None
    turn_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Feedback:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher_for: CipherFor) -> None:
        self._sessions = sessions
        self._cipher_for = cipher_for

    def _session(self) -> AsyncSession:
        return self._sessions(expire_on_commit=False)

    # --- replies -----------------------------------------------------------------------------

    async def record_reply(
        self,
        *,
        chat_id: int,
        message_id: int,
        user_id: int,
        turn_id: str,
        persona_id: str,
        model: str,
        replaces: int | None = None,
        now: datetime | None = None,
    ) -> None:
        """The reply's last message (the one a reaction lands on); sent again after a crash: kept once."""
        async with self._session() as s, s.begin():
            await s.execute(
                dialect_insert(s, Reply)
                .values(
                    chat_id=chat_id,
                    message_id=message_id,
                    user_id=user_id,
                    turn_id=turn_id,
                    persona_id=persona_id,
                    model=model[:128],
                    sent_at=now or datetime.now(UTC),
                    replaces=replaces,
                )
                .on_conflict_do_nothing(index_elements=[Reply.chat_id, Reply.message_id])
            )

    async def reply(self, chat_id: int, message_id: int) -> Reply | None:
        async with self._session() as s:
            return await s.get(Reply, (chat_id, message_id))

    async def latest_reply(self, chat_id: int) -> Reply | None:
        """The chat's newest reply: only it can be regenerated (the thread has moved on from older ones)."""
        async with self._session() as s:
            return (
                await s.execute(
                    select(Reply)
                    .where(Reply.chat_id == chat_id)
                    .order_by(Reply.sent_at.desc(), Reply.message_id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()

    async def turns_since(self, user_id: int, chat_id: int, since: datetime) -> set[str]:
        """The messages (the agent's ids) the chat's replies answered from ``since`` on: which turns
        of a conversation were said while the user shared it."""
        async with self._session() as s:
            rows = await s.execute(
                select(Reply.turn_id).where(
                    Reply.user_id == user_id, Reply.chat_id == chat_id, Reply.sent_at >= since
                )
            )
            return set(rows.scalars())

    async def sent_before(self, chat_id: int, turn_id: str, message_id: int) -> bool:
        """Whether the turn's first reply went out before this one (a turn retried after a crash
        sends it again under a new message id)."""
        async with self._session() as s:
            found = await s.execute(
                select(Reply.message_id)
                .where(
                    Reply.chat_id == chat_id,
                    Reply.turn_id == turn_id,
                    Reply.replaces.is_(None),
                    Reply.message_id != message_id,
                )
                .limit(1)
            )
            return found.first() is not None

    # --- ratings -----------------------------------------------------------------------------

    async def rate(self, reply: Reply, value: int | None, source: str, now: datetime | None = None) -> None:
        """The user's latest word on the reply: ``UP``, ``DOWN``, or None (the reaction was taken back)."""
        async with self._session() as s, s.begin():
            if value is None:
                await s.execute(
                    delete(Rating).where(
                        Rating.chat_id == reply.chat_id, Rating.message_id == reply.message_id
                    )
                )
                return
            if value not in (UP, DOWN):
                raise ValueError(f"a rating is {UP} or {DOWN}, not {value!r}")
            values = {
                "user_id": reply.user_id,
                "persona_id": reply.persona_id,
                "model": reply.model,
                "value": value,
                "source": source,
                "rated_at": now or datetime.now(UTC),
            }
            await s.execute(
                dialect_insert(s, Rating)
                .values(chat_id=reply.chat_id, message_id=reply.message_id, **values)
                .on_conflict_do_update(index_elements=[Rating.chat_id, Rating.message_id], set_=values)
            )

    async def rating(self, chat_id: int, message_id: int) -> int | None:
        async with self._session() as s:
            row = await s.get(Rating, (chat_id, message_id))
            return None if row is None else row.value

    # --- training material -------------------------------------------------------------------

    async def keep_example(
        self,
        *,
        user_id: int,
        chat_id: int,
        message_id: int,
        persona_id: str,
        lang: str,
        context: list[dict[str, str]],
        reply: str,
        turn_id: str,
        now: datetime | None = None,
    ) -> str:
        """Keep one reply as training material (the caller has checked the user shares); its id."""
        row_id = uuid.uuid4().hex
        payload = json.dumps({"context": context, "reply": reply, "turn_id": turn_id}, ensure_ascii=False)
        async with self._session() as s, s.begin():
            s.add(
                TrainingExample(
                    id=row_id,
                    user_id=user_id,
                    chat_id=chat_id,
                    message_id=message_id,
                    persona_id=persona_id,
                    lang=lang,
                    kept_at=now or datetime.now(UTC),
                    ciphertext=self._cipher_for(user_id).encrypt(payload, f"train:{row_id}"),
                )
            )
        return row_id

    async def examples(self, user_id: int) -> list[KeptExample]:
        """The user's kept examples, oldest first, decrypted, with their ratings and regenerations."""
        async with self._session() as s:
            rows = list(
                (
                    await s.execute(
                        select(TrainingExample)
                        .where(TrainingExample.user_id == user_id)
                        .order_by(TrainingExample.kept_at, TrainingExample.id)
                    )
                ).scalars()
            )
            ratings = {
                (r.chat_id, r.message_id): r.value
                for r in (await s.execute(select(Rating).where(Rating.user_id == user_id))).scalars()
            }
            replaces = {
                (r.chat_id, r.message_id): r.replaces
                for r in (await s.execute(select(Reply).where(Reply.user_id == user_id))).scalars()
            }
        if not rows:
            return []
        cipher = self._cipher_for(user_id)
        out = []
        for row in rows:
            data = json.loads(cipher.decrypt(row.ciphertext, f"train:{row.id}"))
            key = (row.chat_id, row.message_id)
            out.append(
                KeptExample(
                    id=row.id,
                    user_id=row.user_id,
                    chat_id=row.chat_id,
                    message_id=row.message_id,
                    persona_id=row.persona_id,
                    lang=row.lang,
                    kept_at=row.kept_at,
                    context=list(data.get("context", [])),
                    reply=str(data.get("reply", "")),
                    rating=ratings.get(key),
                    replaces=replaces.get(key),
                    turn_id=str(data.get("turn_id", "")),
                )
            )
        return out

    async def delete_examples(self, user_id: int, ids: Iterable[str] | None = None) -> int:
        """Delete the user's kept examples (``ids``: only these); how many went."""
        async with self._session() as s, s.begin():
            query = delete(TrainingExample).where(TrainingExample.user_id == user_id)
            if ids is not None:
                query = query.where(TrainingExample.id.in_(list(ids)))
            return (await s.execute(query)).rowcount

    async def forget_examples(
        self, user_id: int, message_ids: frozenset[str], mentions: Callable[[str], bool]
    ) -> int:
        """After a forget: the examples whose turns hold a forgotten message (by the agent's message
        id) or a sentence that still says what was forgotten (``mentions``) go whole; an example
        rewritten around a hole would teach a conversation that never happened."""
        doomed = [
            ex.id
            for ex in await self.examples(user_id)
            if any(turn.get("id") in message_ids for turn in ex.context)
            or ex.turn_id in message_ids
            or any(mentions(text) for text in (ex.reply, *(t.get("content", "") for t in ex.context)))
        ]
        return await self.delete_examples(user_id, doomed) if doomed else 0
