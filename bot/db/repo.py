"""Everything the bot asks of its account database, one short transaction per call.

:class:`Accounts` opens its own session for each call, so handlers never juggle sessions and
concurrent updates for the same user each get their own transaction. Read-modify-write paths
(PRO expiry, usage counters, payments) are written so that the first statement of the
transaction is a write: on PostgreSQL the row is locked or upserted, on SQLite the write lock is
taken before anything is read, so two workers never both act on a stale value.

Times are aware UTC datetimes, passed in by the caller (``now``) so tests and the bot agree on
the clock. Nothing here stores message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import USER_TABLES, Base, Consent, Event, Payment, Rating, Subscription, Usage, User
from common.sqltypes import UTCDateTime

DOCUMENTS = ("terms", "privacy", "training")
# sharing conversations for training: optional, off until asked for, revocable at any time
TRAINING = "training"


def language_from_telegram(language_code: str | None) -> str:
    """The bot speaks Russian first: English only for clients that say they are English."""
    return "en" if (language_code or "").lower().startswith("en") else "ru"


def _as_utc(value: datetime | str | None) -> datetime | None:
    """SQLite's aggregate returns naive or text datetimes; PostgreSQL returns aware ones."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def dialect_insert(session: AsyncSession, table: type[Base]) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_*`` (the same API on SQLite and PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"the bot database supports SQLite and PostgreSQL, not {name}")


def _row(obj: Base, *skip: str) -> dict[str, Any]:
    """A model instance as JSON-ready values (datetimes and dates as ISO strings)."""
    out: dict[str, Any] = {}
    for column in obj.__table__.columns:
        if column.key in skip:
            continue
        value = getattr(obj, column.key)
        out[column.key] = value.isoformat() if isinstance(value, date | datetime) else value
    return out


class Accounts:
    """The bot's accounts: users, consents, PRO, payments, usage counters."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def _session(self) -> AsyncSession:
        # Detached results stay readable whatever the factory was configured with.
        return self._sessions(expire_on_commit=False)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session factory, for the stores that share this database (:mod:`bot.db.feedback`)."""
        return self._sessions

    # --- users -------------------------------------------------------------------------------

    async def get_or_create_user(
        self, user_id: int, language_code: str | None, now: datetime | None = None
    ) -> User:
        """The user, created on first contact with the language their Telegram client reports.

        Read first: every update asks for its user and all but the first find one, so the insert
        (a write transaction that takes SQLite's one write lock, to change nothing) runs only when
        the read finds no row; two first updates at once still meet in the ``DO NOTHING``."""
        async with self._session() as s:
            found = (await s.execute(select(User).where(User.id == user_id))).scalar_one_or_none()
        if found is not None:
            return found
        async with self._session() as s, s.begin():
            await s.execute(
                dialect_insert(s, User)
                .values(
                    id=user_id,
                    language=language_from_telegram(language_code),
                    created_at=_now(now),
                    blocked_bot=False,
                    adult_opt_in=False,
                )
                .on_conflict_do_nothing(index_elements=[User.id])
            )
            return (await s.execute(select(User).where(User.id == user_id))).scalar_one()

    async def _update_user(self, user_id: int, **values: Any) -> bool:
        async with self._session() as s, s.begin():
            result = await s.execute(update(User).where(User.id == user_id).values(**values))
            return result.rowcount > 0

    async def set_language(self, user_id: int, language: str) -> bool:
        if language not in ("ru", "en"):
            raise ValueError(f"unsupported language {language!r}")
        return await self._update_user(user_id, language=language)

    async def set_persona(self, user_id: int, persona_id: str | None) -> bool:
        return await self._update_user(user_id, persona_id=persona_id)

    async def mark_blocked(self, user_id: int, blocked: bool) -> bool:
        """Set when Telegram answers 403 (the user blocked the bot); cleared when they write again."""
        return await self._update_user(user_id, blocked_bot=blocked)

    async def set_adult(
        self, user_id: int, confirmed: bool, opt_in: bool, now: datetime | None = None
    ) -> bool:
        """Record the 18+ confirmation (its first time is kept) and the opt-in, which needs it. A user
        marked minor (:meth:`mark_minor`) stays off whatever is asked: checked here, under the row
        lock, so a button pressed while the account is being marked enables nothing."""
        if opt_in and not confirmed:
            raise ValueError("adult opt-in requires a confirmed age")
        async with self._session() as s, s.begin():
            user = (
                await s.execute(select(User).where(User.id == user_id).with_for_update())
            ).scalar_one_or_none()
            if user is None:
                return False
            if user.minor_since is not None:
                confirmed = opt_in = False
            if not confirmed:
                user.adult_confirmed_at = None
            elif user.adult_confirmed_at is None:
                user.adult_confirmed_at = _now(now)
            user.adult_opt_in = opt_in
            return True

    async def mark_minor(self, user_id: int, now: datetime | None = None) -> bool:
        """Record that the user said they are under 18 (the first time is kept) and switch 18+ off for
        good: the opt-in and the age confirmation go, so a later PRO or a stale button enables
        nothing. A property of the Telegram account, not of one persona's thread. False when there
        is no such user."""
        async with self._session() as s, s.begin():
            result = await s.execute(
                update(User)
                .where(User.id == user_id)
                .values(
                    minor_since=func.coalesce(User.minor_since, literal(_now(now), UTCDateTime())),
                    adult_opt_in=False,
                    adult_confirmed_at=None,
                )
            )
            return result.rowcount > 0

    # --- consent -----------------------------------------------------------------------------

    async def record_consent(self, user_id: int, document: str, version: str, now: datetime) -> None:
        """Record that the user accepted this version; accepting it again keeps the first time."""
        if document not in DOCUMENTS:
            raise ValueError(f"unknown document {document!r}, expected one of {DOCUMENTS}")
        async with self._session() as s, s.begin():
            await s.execute(
                dialect_insert(s, Consent)
                .values(user_id=user_id, document=document, version=version, accepted_at=now)
                .on_conflict_do_nothing(index_elements=[Consent.user_id, Consent.document, Consent.version])
            )

    async def has_consented(self, user_id: int, versions: Mapping[str, str]) -> bool:
        """True when every document in ``versions`` (document -> current version) is accepted."""
        async with self._session() as s:
            rows = await s.execute(
                select(Consent.document, Consent.version).where(Consent.user_id == user_id)
            )
            accepted = {(document, version) for document, version in rows}
        return all((document, version) in accepted for document, version in versions.items())

    async def share_for_training(self, user_id: int, version: str, now: datetime) -> None:
        """The user opts in to training use of their conversations from ``now`` (this version of the
        policy's section). Accepting again after revoking starts afresh: the earlier material was
        deleted when they revoked, and only what comes after this moment is kept."""
        async with self._session() as s, s.begin():
            await s.execute(
                dialect_insert(s, Consent)
                .values(user_id=user_id, document=TRAINING, version=version, accepted_at=now)
                .on_conflict_do_update(
                    index_elements=[Consent.user_id, Consent.document, Consent.version],
                    set_={"accepted_at": now, "revoked_at": None},
                )
            )

    async def stop_sharing(self, user_id: int, now: datetime) -> bool:
        """Revoke training use (every version); False when the user was not sharing."""
        async with self._session() as s, s.begin():
            result = await s.execute(
                update(Consent)
                .where(Consent.user_id == user_id, Consent.document == TRAINING, Consent.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return result.rowcount > 0

    async def sharing_since(self, user_id: int, version: str) -> datetime | None:
        """Since when the user shares their conversations for training under ``version``; None: not."""
        async with self._session() as s:
            return (
                await s.execute(
                    select(Consent.accepted_at).where(
                        Consent.user_id == user_id,
                        Consent.document == TRAINING,
                        Consent.version == version,
                        Consent.revoked_at.is_(None),
                    )
                )
            ).scalar_one_or_none()

    async def sharing_users(self, version: str) -> dict[int, datetime]:
        """Every user sharing for training under ``version``, with since when (``dora train data``)."""
        async with self._session() as s:
            rows = await s.execute(
                select(Consent.user_id, Consent.accepted_at).where(
                    Consent.document == TRAINING, Consent.version == version, Consent.revoked_at.is_(None)
                )
            )
            return {int(user_id): _as_utc(at) or at for user_id, at in rows.all()}

    async def consent_record(self, user_id: int) -> list[dict[str, Any]]:
        """Every acceptance, oldest first: what the user agreed to and when (for their export)."""
        async with self._session() as s:
            return await self._consents(s, user_id)

    @staticmethod
    async def _consents(s: AsyncSession, user_id: int) -> list[dict[str, Any]]:
        rows = await s.execute(
            select(Consent).where(Consent.user_id == user_id).order_by(Consent.accepted_at, Consent.id)
        )
        return [_row(c, "id", "user_id") for c in rows.scalars()]

    # --- PRO ---------------------------------------------------------------------------------

    async def pro_until(self, user_id: int) -> datetime | None:
        async with self._session() as s:
            return (
                await s.execute(select(Subscription.expires_at).where(Subscription.user_id == user_id))
            ).scalar_one_or_none()

    async def is_pro(self, user_id: int, now: datetime) -> bool:
        until = await self.pro_until(user_id)
        return until is not None and until > now

    async def grant_pro(self, user_id: int, days: int, now: datetime) -> datetime:
        """Extend PRO by ``days`` from the later of now and the current expiry; the new expiry."""
        async with self._session() as s, s.begin():
            await self._ensure_user(s, user_id, now)
            return await self._extend(s, user_id, timedelta(days=days), now)

    async def revoke_pro(self, user_id: int) -> bool:
        async with self._session() as s, s.begin():
            result = await s.execute(delete(Subscription).where(Subscription.user_id == user_id))
            return result.rowcount > 0

    async def _extend(self, s: AsyncSession, user_id: int, by: timedelta, now: datetime) -> datetime:
        # The do-nothing upsert comes first: it takes SQLite's write lock and makes sure there is a
        # row for PostgreSQL's FOR UPDATE to lock, so concurrent grants add up instead of racing.
        await s.execute(
            dialect_insert(s, Subscription)
            .values(user_id=user_id, expires_at=now)
            .on_conflict_do_nothing(index_elements=[Subscription.user_id])
        )
        sub = (
            await s.execute(select(Subscription).where(Subscription.user_id == user_id).with_for_update())
        ).scalar_one()
        sub.expires_at = max(sub.expires_at, now) + by
        return sub.expires_at

    async def _ensure_user(self, s: AsyncSession, user_id: int, now: datetime) -> None:
        # Money is never dropped: a payment for a user who wiped their account recreates the row.
        await s.execute(
            dialect_insert(s, User)
            .values(id=user_id, language="ru", created_at=now, blocked_bot=False, adult_opt_in=False)
            .on_conflict_do_nothing(index_elements=[User.id])
        )

    # --- payments ----------------------------------------------------------------------------

    async def record_payment(
        self,
        user_id: int,
        charge_id: str,
        payload: str,
        currency: str,
        total_amount: int,
        days: int,
        now: datetime,
    ) -> bool:
        """Store a successful payment and grant its days; False (and nothing granted) if already stored."""
        async with self._session() as s, s.begin():
            await self._ensure_user(s, user_id, now)
            inserted = (
                await s.execute(
                    dialect_insert(s, Payment)
                    .values(
                        telegram_payment_charge_id=charge_id,
                        user_id=user_id,
                        payload=payload,
                        currency=currency,
                        total_amount=total_amount,
                        days=days,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[Payment.telegram_payment_charge_id])
                    .returning(Payment.id)
                )
            ).scalar_one_or_none()
            if inserted is None:
                return False
            await self._extend(s, user_id, timedelta(days=days), now)
            return True

    async def refund_payment(self, charge_id: str, now: datetime) -> bool:
        """Mark the payment refunded and take its days back off PRO; False if unknown or already refunded."""
        async with self._session() as s, s.begin():
            # Claiming the refund with a conditional UPDATE makes a second, concurrent refund a no-op.
            claimed = (
                await s.execute(
                    update(Payment)
                    .where(Payment.telegram_payment_charge_id == charge_id, Payment.refunded_at.is_(None))
                    .values(refunded_at=now)
                    .returning(Payment.user_id, Payment.days)
                )
            ).one_or_none()
            if claimed is None:
                return False
            user_id, days = claimed
            sub = (
                await s.execute(select(Subscription).where(Subscription.user_id == user_id).with_for_update())
            ).scalar_one_or_none()
            if sub is not None:
                sub.expires_at -= timedelta(days=days)
            return True

    async def payments(self, user_id: int) -> list[dict[str, Any]]:
        """The user's payments, oldest first, refunded ones included."""
        async with self._session() as s:
            return await self._payments(s, user_id)

    @staticmethod
    async def _payments(s: AsyncSession, user_id: int) -> list[dict[str, Any]]:
        rows = await s.execute(
            select(Payment).where(Payment.user_id == user_id).order_by(Payment.created_at, Payment.id)
        )
        return [_row(p, "id", "user_id") for p in rows.scalars()]

    # --- usage -------------------------------------------------------------------------------

    async def increment_usage(self, user_id: int, counter: str, day: date) -> int:
        """Add one to the user's counter for that UTC day, atomically; the new value."""
        async with self._session() as s, s.begin():
            stmt = dialect_insert(s, Usage).values(user_id=user_id, day=day, counter=counter, value=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[Usage.user_id, Usage.day, Usage.counter],
                set_={"value": Usage.value + 1},
            ).returning(Usage.value)
            return (await s.execute(stmt)).scalar_one()

    async def usage(self, user_id: int, counter: str, day: date) -> int:
        async with self._session() as s:
            value = (
                await s.execute(
                    select(Usage.value).where(
                        Usage.user_id == user_id, Usage.day == day, Usage.counter == counter
                    )
                )
            ).scalar_one_or_none()
            return value or 0

    # --- analytics ---------------------------------------------------------------------------

    async def record_event(
        self,
        user_id: int,
        name: str,
        now: datetime | None = None,
        *,
        persona_id: str | None = None,
        kind: str | None = None,
    ) -> None:
        """One funnel event (labels only, never message text)."""
        async with self._session() as s, s.begin():
            await self._ensure_user(s, user_id, _now(now))
            s.add(Event(user_id=user_id, name=name, at=_now(now), persona_id=persona_id, kind=kind))

    async def events(self) -> list[dict[str, Any]]:
        """Every event, oldest first (for the funnel notebook)."""
        async with self._session() as s:
            rows = await s.execute(select(Event).order_by(Event.at, Event.id))
            return [_row(e) for e in rows.scalars()]

    # --- operators ---------------------------------------------------------------------------

    async def list_users(self) -> list[dict[str, Any]]:
        """Every user with their settings, PRO expiry and last event, oldest first (`dora users list`)."""
        last_seen = (
            select(Event.user_id, func.max(Event.at).label("last_seen")).group_by(Event.user_id).subquery()
        )
        async with self._session() as s:
            rows = await s.execute(
                select(User, Subscription.expires_at, last_seen.c.last_seen)
                .outerjoin(Subscription, Subscription.user_id == User.id)
                .outerjoin(last_seen, last_seen.c.user_id == User.id)
                .order_by(User.created_at)
            )
            return [
                {**_row(user), "pro_until": expires, "last_seen": _as_utc(seen)}
                for user, expires, seen in rows.all()
            ]

    # --- the user's rights: export and wipe ------------------------------------------------

    async def export_account(self, user_id: int) -> dict[str, Any]:
        """Everything stored about the user here, JSON-serialisable (part of their data export)."""
        async with self._session() as s, s.begin():
            user = await s.get(User, user_id)
            sub = await s.get(Subscription, user_id)
            usage = await s.execute(
                select(Usage).where(Usage.user_id == user_id).order_by(Usage.day, Usage.counter)
            )
            events = await s.execute(
                select(Event).where(Event.user_id == user_id).order_by(Event.at, Event.id)
            )
            ratings = await s.execute(
                select(Rating).where(Rating.user_id == user_id).order_by(Rating.rated_at, Rating.message_id)
            )
            return {
                "user": _row(user) if user else None,
                "consents": await self._consents(s, user_id),
                "subscription": _row(sub, "user_id") if sub else None,
                "payments": await self._payments(s, user_id),
                "usage": [_row(u, "user_id") for u in usage.scalars()],
                "events": [_row(e, "user_id", "id") for e in events.scalars()],
                "ratings": [_row(r, "user_id") for r in ratings.scalars()],
            }

    async def delete_account(self, user_id: int) -> dict[str, int]:
        """Hard-delete the user's rows in every table; how many rows each table lost."""
        counts: dict[str, int] = {}
        async with self._session() as s, s.begin():
            for model, column in USER_TABLES.items():  # children first, the user row last
                result = await s.execute(delete(model).where(getattr(model, column) == user_id))
                counts[model.__tablename__] = result.rowcount
        return counts
