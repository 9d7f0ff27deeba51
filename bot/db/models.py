"""The bot's account tables: who the user is to the bot, never what they said.

Conversation text and memories live elsewhere, encrypted; nothing here holds message text in the
clear, so this database can be backed up, inspected and exported without touching anything
private. The one exception in kind is the inbox: messages accepted but not yet answered, encrypted
with the user's key, deleted as soon as they are answered.

The schema itself is created only by the Alembic migrations in ``bot/db/migrations``; these
models describe it for queries, and a test checks the two agree.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.sqltypes import UTCDateTime

# Explicit constraint names, so migrations name constraints the same way on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A Telegram user as the bot knows them: settings and flags only."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(8))
    persona_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_bot: Mapped[bool] = mapped_column(Boolean, server_default=false())
    adult_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    adult_opt_in: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # when the user first said they are under 18 (to any persona): a property of the account, so
    # romance and 18+ stay off for good, whatever persona, thread or device; never cleared
    minor_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Consent(Base):
    """One accepted version of one legal document; old versions stay as the record of what was agreed.
    ``revoked_at``: only the optional ones can be taken back (``training``: sharing conversations for
    training); the row stays as the record, and accepting again clears it."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "document", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    document: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    """PRO until ``expires_at``; a past expiry means not PRO (the row is kept for renewals)."""

    __tablename__ = "subscriptions"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Payment(Base):
    """A successful Telegram payment; the charge id is unique so a redelivered update grants nothing."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    telegram_payment_charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    payload: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(8))
    total_amount: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Usage(Base):
    """How many times a user did something (``counter``) on one UTC day, for the free-tier limits."""

    __tablename__ = "usage_counters"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counter: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Event(Base):
    """An analytics event for the operator's funnel (start, consent, persona chosen, message, PRO):
    a name, a time and a few labels (persona id, text or voice), never message text."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    persona_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(16))


class PendingMessage(Base):
    """A message accepted from Telegram and not yet answered, so a worker that dies mid-turn loses
    nothing: a survivor (or the restarted worker) answers it. ``ciphertext`` is the text under the
    user's key. ``batch`` is the turn it was taken into (the id of that turn's first message, which
    is also the agent's message id, so a turn retried after a crash is recognised, not repeated).
    ``update_id`` is unique: Telegram redelivering an update adds nothing. ``unsure``: a voice note
    Whisper was unsure of (answered, but no facts are learned from it)."""

    __tablename__ = "inbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    update_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    persona_id: Mapped[str] = mapped_column(String(64))
    flags: Mapped[str] = mapped_column(String(128))
    ciphertext: Mapped[str] = mapped_column(Text)
    batch: Mapped[str | None] = mapped_column(String(32))
    unsure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Reply(Base):
    """A reply the bot sent, by its Telegram message id: what a rating or a "regenerate" press names
    (Telegram's reaction update carries only the chat and the message id). No text: the persona, the
    chat model and the turn it answered (the agent's message id). ``replaces``: the message id of the
    reply this one regenerated."""

    __tablename__ = "replies"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[str] = mapped_column(String(64))
    persona_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replaces: Mapped[int | None] = mapped_column(BigInteger)


class Rating(Base):
    """The user's 👍 (+1) or 👎 (-1) on one reply, by reaction or button; the latest one counts.
    Persona and model are copied from the reply, so ratings outlive the reply rows' meaning."""

    __tablename__ = "ratings"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    persona_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    value: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(String(16))  # "reaction" | "button"
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrainingExample(Base):
    """What one reply needs to become a training example, kept only while the user shares their
    conversations for training (``/share_for_training``): the recent turns it answered and the reply,
    as JSON under the user's key (``ciphertext``), so a wipe's key shredding covers it. Plain columns
    name it (the reply's message id) and say when it was kept; never what was said."""

    __tablename__ = "training_examples"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    persona_id: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    kept_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ciphertext: Mapped[str] = mapped_column(Text)


# Every table and the column that names the user in it: what export and delete walk.
USER_TABLES: dict[type[Base], str] = {
    TrainingExample: "user_id",
    Rating: "user_id",
    Reply: "user_id",
    PendingMessage: "user_id",
    Event: "user_id",
    Consent: "user_id",
    Subscription: "user_id",
    Payment: "user_id",
    Usage: "user_id",
    User: "id",
}
