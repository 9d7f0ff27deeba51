"""Where check-ins wait, and who may send them: two small tables beside the bot's own (the same
SQLite file or PostgreSQL database), holding ids, times and choices, never what anyone said.

``dora_presence``: one row per user who talks to DORA (in Telegram or in ``dora chat``): their time
zone, whether they want check-ins, whether they blocked the bot, when they last wrote, which persona
they last talked to, and whether a check-in is waiting for their answer.

``dora_checkins``: check-ins planned or done. What one is about is a memory id (the memory itself
stays in the encrypted memory store, so forgetting it cancels the check-in, and what the event was is
read from it when needed, never copied here); ``key`` makes planning
idempotent across workers (one row per event memory, one per stretch of silence).

Why a row claim and not a lock: each due row is claimed by one conditional ``UPDATE`` (status
``planned``, or ``sending`` with its lease run out) that only one worker can win, on SQLite and on
PostgreSQL alike. A worker killed mid-send leaves its claim to run out (``lease_s``), and another
worker sends it then: nothing is lost. Only a worker killed in the instant between Telegram taking
the message and the row being marked sent would have it sent twice (the same window as replies, see
:mod:`bot.conversation`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    delete,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.sqltypes import UTCDateTime

DEFAULT_TZ = "Europe/Moscow"


class _Base(DeclarativeBase):
    metadata = MetaData()


class PresenceRow(_Base):
    __tablename__ = "dora_presence"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the agent's user id
    channel: Mapped[str] = mapped_column(String(16))  # "telegram" or "chat"
    persona_id: Mapped[str] = mapped_column(String(64))  # the persona last talked to: it writes
    tz: Mapped[str] = mapped_column(String(64), default=DEFAULT_TZ)
    tz_set: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    awaiting_since: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )  # a check-in unanswered
    awaiting_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CheckinRow(_Base):
    __tablename__ = "dora_checkins"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_dora_checkins_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    persona_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))  # "event" | "silence"
    about: Mapped[str] = mapped_column(String(64))  # a memory id
    key: Mapped[str] = mapped_column(String(96))
    sure: Mapped[float] = mapped_column(Float, default=1.0)
    event_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    why: Mapped[str] = mapped_column(String(64), default="")  # why it was cancelled (no text)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


@dataclass(frozen=True)
class Checkin:
    """A check-in as the rules and the senders see it."""

    id: int
    user_id: str
    persona_id: str
    reason: str
    about: str
    due_at: datetime
    expires_at: datetime
    created_at: datetime
    event_start: datetime | None
    status: str


def _checkin(row: CheckinRow) -> Checkin:
    return Checkin(
        row.id,
        row.user_id,
        row.persona_id,
        row.reason,
        row.about,
        row.due_at,
        row.expires_at,
        row.created_at,
        row.event_start,
        row.status,
    )


@dataclass(frozen=True)
class Presence:
    user_id: str
    channel: str
    persona_id: str
    tz: str
    enabled: bool
    blocked: bool
    last_message_at: datetime
    awaiting_since: datetime | None


def _presence(row: PresenceRow) -> Presence:
    return Presence(
        row.user_id,
        row.channel,
        row.persona_id,
        row.tz,
        row.enabled,
        row.blocked,
        row.last_message_at,
        row.awaiting_since,
    )


class PresenceStore:
    """The two tables on an async SQLAlchemy engine (created on first open, idempotently)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._ready = False
        self._ready_lock = asyncio.Lock()

    async def open(self) -> PresenceStore:
        """Create the tables if missing. Several workers may race here: the loser's "already
        exists" is the winner's table, so it is tried once more and then taken as done."""
        async with self._ready_lock:
            if self._ready:
                return self
            for attempt in range(3):
                try:
                    async with self.engine.begin() as conn:
                        await conn.run_sync(_Base.metadata.create_all)
                    break
                except Exception:
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            self._ready = True
        return self

    # -- users -------------------------------------------------------------------------------------

    async def get(self, user_id: str) -> Presence | None:
        async with self.sessions() as s:
            row = await s.get(PresenceRow, user_id)
            return None if row is None else _presence(row)

    async def seen(self, user_id: str, channel: str, persona_id: str, at: datetime) -> Checkin | None:
        """The user wrote: remember when and to whom, and the check-in this answers (if any, within
        24 hours: the funnel's "answered"). A user who writes has not blocked the bot."""
        async with self.sessions() as s, s.begin():
            row = await s.get(PresenceRow, user_id)
            if row is None:
                s.add(
                    PresenceRow(
                        user_id=user_id,
                        channel=channel,
                        persona_id=persona_id,
                        tz=DEFAULT_TZ,
                        enabled=True,
                        blocked=False,
                        last_message_at=at,
                    )
                )
                try:
                    await s.flush()
                except IntegrityError:  # another worker made it meanwhile
                    await s.rollback()
                    return await self.seen(user_id, channel, persona_id, at)
                return None
            answered: Checkin | None = None
            if row.awaiting_id is not None and row.awaiting_since is not None:
                checkin = await s.get(CheckinRow, row.awaiting_id)
                if checkin is not None and checkin.answered_at is None:
                    checkin.answered_at = at
                    if at - row.awaiting_since <= timedelta(hours=24):
                        answered = _checkin(checkin)
            row.channel, row.persona_id = channel, persona_id
            row.last_message_at = max(row.last_message_at, at)
            row.blocked = False
            row.awaiting_since, row.awaiting_id = None, None
            return answered

    async def set_enabled(self, user_id: str, enabled: bool) -> bool:
        """/checkins on|off; False when the user has never talked (nothing to change)."""
        return await self._set(user_id, enabled=enabled)

    async def set_tz(self, user_id: str, tz: str) -> bool:
        return await self._set(user_id, tz=tz, tz_set=True)

    async def set_blocked(self, user_id: str, blocked: bool) -> bool:
        return await self._set(user_id, blocked=blocked)

    async def _set(self, user_id: str, **values: Any) -> bool:
        async with self.sessions() as s, s.begin():
            query = update(PresenceRow).where(PresenceRow.user_id == user_id).values(**values)
            result = await s.execute(query)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def users(
        self,
        channel: str | None = None,
        *,
        ids: Iterable[str] | None = None,
        silent_between: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[Presence]:
        """Users by id (``ids``), or those who may be written to (on, not blocked, nothing
        unanswered) and last wrote within ``silent_between``: the database picks them, so a tick
        reads a handful of rows, not every user DORA has."""
        async with self.sessions() as s:
            query = select(PresenceRow)
            if channel is not None:
                query = query.where(PresenceRow.channel == channel)
            if user_id is not None:
                query = query.where(PresenceRow.user_id == user_id)
            if ids is not None:
                query = query.where(PresenceRow.user_id.in_(list(ids)))
            if silent_between is not None:
                query = query.where(
                    PresenceRow.enabled.is_(True),
                    PresenceRow.blocked.is_(False),
                    PresenceRow.awaiting_since.is_(None),
                    PresenceRow.last_message_at >= silent_between[0],
                    PresenceRow.last_message_at <= silent_between[1],
                )
            return [_presence(r) for r in (await s.execute(query)).scalars()]

    async def wipe(self, user_id: str) -> None:
        """The user is deleted: every row about them goes."""
        async with self.sessions() as s, s.begin():
            await s.execute(delete(CheckinRow).where(CheckinRow.user_id == user_id))
            await s.execute(delete(PresenceRow).where(PresenceRow.user_id == user_id))

    # -- check-ins ---------------------------------------------------------------------------------

    async def plan(
        self,
        user_id: str,
        persona_id: str,
        reason: str,
        about: str,
        key: str,
        due_at: datetime,
        expires_at: datetime,
        at: datetime,
        *,
        sure: float = 1.0,
        event_start: datetime | None = None,
    ) -> bool:
        """Add a planned check-in; False when one with this key exists (planned twice, or by another
        worker): planning is idempotent."""
        async with self.sessions() as s:
            s.add(
                CheckinRow(
                    user_id=user_id,
                    persona_id=persona_id,
                    reason=reason,
                    about=about,
                    key=key,
                    sure=sure,
                    event_start=event_start,
                    due_at=due_at,
                    expires_at=expires_at,
                    status="planned",
                    created_at=at,
                )
            )
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                return False
            return True

    async def planned(self, at: datetime, user_id: str | None = None) -> list[Checkin]:
        """Check-ins due by ``at`` that nobody holds (planned, or a claim that ran out)."""
        async with self.sessions() as s:
            query = select(CheckinRow).where(
                CheckinRow.due_at <= at,
                or_(
                    CheckinRow.status == "planned",
                    (CheckinRow.status == "sending") & (CheckinRow.lease_until < at),
                ),
            )
            if user_id is not None:
                query = query.where(CheckinRow.user_id == user_id)
            rows = (await s.execute(query.order_by(CheckinRow.due_at, CheckinRow.id))).scalars()
            return [_checkin(r) for r in rows]

    async def of_user(self, user_id: str) -> list[Checkin]:
        async with self.sessions() as s:
            query = select(CheckinRow).where(CheckinRow.user_id == user_id).order_by(CheckinRow.id)
            return [_checkin(r) for r in (await s.execute(query)).scalars()]

    async def claim(self, checkin_id: int, worker: str, at: datetime, lease_s: float) -> bool:
        """Take a due check-in for sending; True for exactly one worker however many try."""
        async with self.sessions() as s, s.begin():
            result = await s.execute(
                update(CheckinRow)
                .where(
                    CheckinRow.id == checkin_id,
                    or_(
                        CheckinRow.status == "planned",
                        (CheckinRow.status == "sending") & (CheckinRow.lease_until < at),
                    ),
                )
                .values(status="sending", claimed_by=worker, lease_until=at + timedelta(seconds=lease_s))
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def release(self, checkin_id: int, worker: str) -> None:
        """Give a claimed check-in back (it was not sent: Telegram away); it is tried again."""
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(CheckinRow)
                .where(CheckinRow.id == checkin_id, CheckinRow.claimed_by == worker)
                .values(status="planned", claimed_by=None, lease_until=None)
            )

    async def sent(self, checkin: Checkin, worker: str, at: datetime) -> None:
        """Sent: the user now owes an answer (no other check-in until they write)."""
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(CheckinRow)
                .where(CheckinRow.id == checkin.id)
                .values(status="sent", sent_at=at, lease_until=None)
            )
            await s.execute(
                update(PresenceRow)
                .where(PresenceRow.user_id == checkin.user_id)
                .values(awaiting_since=at, awaiting_id=checkin.id)
            )

    async def cancel(self, checkin_id: int, why: str, status: str = "cancelled") -> None:
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(CheckinRow)
                .where(CheckinRow.id == checkin_id, CheckinRow.status.in_(("planned", "sending")))
                .values(status=status, why=why[:64], lease_until=None)
            )

    async def sent_since(self, user_id: str, since: datetime, reason: str | None = None) -> bool:
        async with self.sessions() as s:
            query = select(CheckinRow.id).where(
                CheckinRow.user_id == user_id, CheckinRow.sent_at.is_not(None), CheckinRow.sent_at >= since
            )
            if reason is not None:
                query = query.where(CheckinRow.reason == reason)
            return (await s.execute(query.limit(1))).first() is not None
