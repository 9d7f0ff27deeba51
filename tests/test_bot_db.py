"""The bot's account database on real SQLite and real PostgreSQL: schema, money, limits, user rights.

Every repo test runs on both backends; PostgreSQL gets a fresh schema per test (dropped afterwards)
so parallel or repeated runs never see each other's rows. PostgreSQL is skipped, with the reason,
when it is not reachable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from bot.db import Accounts, create_engine_and_sessions, migrate
from bot.db.engine import alembic_config
from bot.db.models import USER_TABLES, Base, PendingMessage, Rating, Reply, TrainingExample, User
from dora.config import Settings
from dora.wiring.bot import database_url

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = date(2025, 3, 1)
VERSIONS = {"terms": "2025-01", "privacy": "2025-01"}
ALICE, BOB = 1001, 2002
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An async URL to an empty database: a SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite'}"
        return
    yield database_url(
        Settings(data_dir=tmp_path, postgres_url=request.getfixturevalue("postgres_schema_url"))
    )


@asynccontextmanager
async def accounts_on(url: str) -> AsyncIterator[Accounts]:
    await migrate(url)
    engine, sessions = create_engine_and_sessions(url)
    try:
        yield Accounts(sessions)
    finally:
        await engine.dispose()


async def _rows_for(url: str, user_id: int) -> dict[str, int]:
    """Rows naming the user in every table of the schema, counted straight from the database."""
    engine, _ = create_engine_and_sessions(url)
    try:
        async with engine.connect() as conn:
            counts = {}
            for model, column in USER_TABLES.items():
                table = model.__table__
                query = select(func.count()).select_from(table).where(table.c[column] == user_id)
                counts[table.name] = (await conn.execute(query)).scalar_one()
            return counts
    finally:
        await engine.dispose()


# --- settings -> URL ----------------------------------------------------------------------------


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    url = database_url(Settings(data_dir=tmp_path / "data", postgres_url=None))
    assert url == f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'bot.sqlite').resolve()}"


def test_database_url_uses_psycopg_for_postgres(tmp_path: Path) -> None:
    url = database_url(Settings(data_dir=tmp_path, postgres_url="postgresql://bot:s3cret@db:5432/dora"))
    assert url == "postgresql+psycopg://bot:s3cret@db:5432/dora"
    assert make_url(url).password == "s3cret"


# --- schema -------------------------------------------------------------------------------------


def test_migrate_twice_is_a_noop(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru", now=NOW)
        engine, _ = create_engine_and_sessions(url)
        try:
            async with engine.connect() as conn:
                tables = await conn.run_sync(lambda c: sorted(inspect(c).get_table_names()))
                version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        finally:
            await engine.dispose()
        assert tables == sorted([*Base.metadata.tables, "alembic_version"])
        assert version == [("0006",)]  # the newest migration

        await migrate(url)  # again: nothing to do, nothing lost
        async with accounts_on(url) as accounts:
            assert (await accounts.get_or_create_user(ALICE, "en", now=NOW)).language == "ru"
            assert await accounts.export_account(ALICE) is not None

    run(scenario())


@pytest.mark.timeout(60)  # without the advisory lock the migrations block each other: fail, don't hang
def test_workers_migrating_at_once_on_postgres(url: str) -> None:
    if url.startswith("sqlite"):
        pytest.skip("SQLite serves one bot process; only PostgreSQL has several workers starting together")

    async def scenario() -> None:
        await asyncio.gather(*(migrate(url) for _ in range(4)))
        async with accounts_on(url) as accounts:
            assert (await accounts.get_or_create_user(ALICE, "ru")).id == ALICE

    run(scenario())


def test_minor_migration_adds_the_column_and_keeps_the_users(url: str) -> None:
    """0004 on a database that has users already: the column comes, empty; nobody is a minor."""

    def to(connection: Connection, revision: str) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async def scenario() -> None:
        engine, _ = create_engine_and_sessions(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(to, "0003")
                # the 0003 schema's columns only (an INSERT names just the values given)
                await conn.execute(
                    insert(User).values(
                        id=ALICE, language="ru", created_at=NOW, blocked_bot=False, adult_opt_in=True
                    )
                )
                columns = await conn.run_sync(
                    lambda c: {col["name"] for col in inspect(c).get_columns("users")}
                )
                assert "minor_since" not in columns
        finally:
            await engine.dispose()
        async with accounts_on(url) as accounts:  # migrates to the newest
            user = await accounts.get_or_create_user(ALICE, "en", now=NOW)
            assert (user.minor_since, user.adult_opt_in) == (None, True)
            assert await accounts.mark_minor(ALICE, now=NOW)
            assert (await accounts.get_or_create_user(ALICE, None)).minor_since == NOW

    run(scenario())


def test_migrations_match_the_models(url: str) -> None:
    async def scenario() -> list[Any]:
        await migrate(url)
        engine, _ = create_engine_and_sessions(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                    )
                )
        finally:
            await engine.dispose()

    assert run(scenario()) == []


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'bot.sqlite'}"

    async def scenario() -> tuple[str, int]:
        async with accounts_on(url):
            engine, _ = create_engine_and_sessions(url)
            try:
                async with engine.connect() as conn:
                    mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                    fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
                    return mode, fks
            finally:
                await engine.dispose()

    assert run(scenario()) == ("wal", 1)


# --- users --------------------------------------------------------------------------------------


def test_user_defaults_and_settings(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            assert (await accounts.get_or_create_user(1, "en-US", now=NOW)).language == "en"
            assert (await accounts.get_or_create_user(2, None, now=NOW)).language == "ru"
            assert (await accounts.get_or_create_user(3, "de", now=NOW)).language == "ru"
            big = 7_900_000_000  # Telegram ids no longer fit 32 bits
            user = await accounts.get_or_create_user(big, "ru", now=NOW)
            assert (user.id, user.persona_id, user.blocked_bot, user.adult_opt_in) == (
                big,
                None,
                False,
                False,
            )
            assert user.created_at == NOW and user.adult_confirmed_at is None

            assert await accounts.set_language(big, "en")
            assert await accounts.set_persona(big, "dora")
            assert await accounts.mark_blocked(big, True)
            assert await accounts.set_adult(big, confirmed=True, opt_in=True, now=NOW)
            assert await accounts.set_adult(big, confirmed=True, opt_in=False, now=NOW + timedelta(days=1))
            with pytest.raises(ValueError):
                await accounts.set_adult(big, confirmed=False, opt_in=True)
            assert not await accounts.set_persona(999, "dora")  # no such user

            again = await accounts.get_or_create_user(big, "ru", now=NOW + timedelta(days=3))
            assert (again.language, again.persona_id, again.blocked_bot) == ("en", "dora", True)
            assert again.adult_confirmed_at == NOW and again.adult_opt_in is False  # first time kept
            assert again.created_at == NOW

            assert await accounts.set_adult(big, confirmed=False, opt_in=False)
            assert (await accounts.get_or_create_user(big, None)).adult_confirmed_at is None

    run(scenario())


def test_a_minor_is_marked_once_and_18_plus_goes_off_for_good(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru", now=NOW)
            await accounts.get_or_create_user(BOB, "ru", now=NOW)
            assert await accounts.set_adult(ALICE, confirmed=True, opt_in=True, now=NOW)
            assert await accounts.set_adult(BOB, confirmed=True, opt_in=True, now=NOW)

            assert await accounts.mark_minor(ALICE, now=NOW + timedelta(days=1))
            assert await accounts.mark_minor(ALICE, now=NOW + timedelta(days=5))  # again: first time kept
            alice = await accounts.get_or_create_user(ALICE, None)
            assert alice.minor_since == NOW + timedelta(days=1)
            assert (alice.adult_opt_in, alice.adult_confirmed_at) == (False, None)

            # whatever is pressed later, 18+ stays off
            assert await accounts.set_adult(ALICE, confirmed=True, opt_in=True, now=NOW + timedelta(days=6))
            alice = await accounts.get_or_create_user(ALICE, None)
            assert (alice.adult_opt_in, alice.adult_confirmed_at) == (False, None)
            assert alice.minor_since == NOW + timedelta(days=1)

            bob = await accounts.get_or_create_user(BOB, None)  # only that user
            assert (bob.minor_since, bob.adult_opt_in, bob.adult_confirmed_at) == (None, True, NOW)
            assert not await accounts.mark_minor(999)  # no such user

            listed = {u["id"]: u for u in await accounts.list_users()}
            assert listed[ALICE]["minor_since"] == (NOW + timedelta(days=1)).isoformat()
            assert listed[BOB]["minor_since"] is None
            exported = await accounts.export_account(ALICE)
            assert exported["user"]["minor_since"] == (NOW + timedelta(days=1)).isoformat()

    run(scenario())


def test_concurrent_first_contact_creates_one_user(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            users = await asyncio.gather(*(accounts.get_or_create_user(ALICE, "ru") for _ in range(10)))
            assert {u.id for u in users} == {ALICE}
            assert (await _rows_for(url, ALICE))["users"] == 1

    run(scenario())


# --- consent ------------------------------------------------------------------------------------


def test_consent_is_recorded_with_version_and_time(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru")
            assert not await accounts.has_consented(ALICE, VERSIONS)
            await accounts.record_consent(ALICE, "terms", "2025-01", NOW)
            assert not await accounts.has_consented(ALICE, VERSIONS)  # privacy still missing
            await accounts.record_consent(ALICE, "privacy", "2025-01", NOW + timedelta(seconds=5))
            assert await accounts.has_consented(ALICE, VERSIONS)
            await accounts.record_consent(ALICE, "terms", "2025-01", NOW + timedelta(days=1))  # kept first

            assert await accounts.consent_record(ALICE) == [
                {
                    "document": "terms",
                    "version": "2025-01",
                    "accepted_at": NOW.isoformat(),
                    "revoked_at": None,
                },
                {
                    "document": "privacy",
                    "version": "2025-01",
                    "accepted_at": (NOW + timedelta(seconds=5)).isoformat(),
                    "revoked_at": None,
                },
            ]

            new_terms = {**VERSIONS, "terms": "2025-06"}
            assert not await accounts.has_consented(ALICE, new_terms)
            await accounts.record_consent(ALICE, "terms", "2025-06", NOW + timedelta(days=100))
            assert await accounts.has_consented(ALICE, new_terms)
            assert len(await accounts.consent_record(ALICE)) == 3  # the old acceptance stays on record
            assert not await accounts.has_consented(BOB, VERSIONS)
            with pytest.raises(ValueError):
                await accounts.record_consent(ALICE, "cookies", "1", NOW)

    run(scenario())


# --- PRO and payments ---------------------------------------------------------------------------


def test_pro_grant_renewal_and_expiry(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru")
            assert not await accounts.is_pro(ALICE, NOW) and await accounts.pro_until(ALICE) is None

            assert await accounts.grant_pro(ALICE, 30, NOW) == NOW + timedelta(days=30)
            assert await accounts.is_pro(ALICE, NOW + timedelta(days=29))
            assert not await accounts.is_pro(ALICE, NOW + timedelta(days=30, seconds=1))

            # Renewing while active extends from the expiry, not from now.
            assert await accounts.grant_pro(ALICE, 30, NOW + timedelta(days=10)) == NOW + timedelta(days=60)
            # After it lapsed, a grant starts from now.
            later = NOW + timedelta(days=100)
            assert not await accounts.is_pro(ALICE, later)
            assert await accounts.grant_pro(ALICE, 30, later) == later + timedelta(days=30)
            assert await accounts.pro_until(ALICE) == later + timedelta(days=30)

            assert await accounts.revoke_pro(ALICE)
            assert not await accounts.is_pro(ALICE, later) and await accounts.pro_until(ALICE) is None
            assert not await accounts.revoke_pro(ALICE)

    run(scenario())


def test_concurrent_grants_all_count(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru")
            await asyncio.gather(*(accounts.grant_pro(ALICE, 1, NOW) for _ in range(10)))
            assert await accounts.pro_until(ALICE) == NOW + timedelta(days=10)

    run(scenario())


def test_payment_is_idempotent(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru")
            args = dict(payload="pro:30", currency="XTR", total_amount=250, days=30, now=NOW)
            assert await accounts.record_payment(ALICE, "charge-1", **args)
            assert not await accounts.record_payment(ALICE, "charge-1", **args)  # redelivered update
            assert await accounts.pro_until(ALICE) == NOW + timedelta(days=30)

            # The same charge arriving on several workers at once still grants once.
            results = await asyncio.gather(
                *(accounts.record_payment(ALICE, "charge-2", **args) for _ in range(8))
            )
            assert results.count(True) == 1
            assert await accounts.pro_until(ALICE) == NOW + timedelta(days=60)

            payments = await accounts.payments(ALICE)
            assert [p["telegram_payment_charge_id"] for p in payments] == ["charge-1", "charge-2"]
            assert payments[0] | {"telegram_payment_charge_id": None} == {
                "telegram_payment_charge_id": None,
                "payload": "pro:30",
                "currency": "XTR",
                "total_amount": 250,
                "days": 30,
                "created_at": NOW.isoformat(),
                "refunded_at": None,
            }

    run(scenario())


def test_payment_for_unknown_user_is_kept(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            assert await accounts.record_payment(BOB, "charge-x", "pro:30", "XTR", 250, 30, NOW)
            assert await accounts.is_pro(BOB, NOW)

    run(scenario())


def test_refund_revokes_the_days_it_granted(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru")
            await accounts.record_payment(ALICE, "c1", "pro:30", "XTR", 250, 30, NOW)
            await accounts.record_payment(ALICE, "c2", "pro:30", "XTR", 250, 30, NOW + timedelta(days=5))
            assert await accounts.pro_until(ALICE) == NOW + timedelta(days=60)

            refund_at = NOW + timedelta(days=6)
            assert await accounts.refund_payment("c2", refund_at)
            assert await accounts.pro_until(ALICE) == NOW + timedelta(days=30)
            assert await accounts.is_pro(ALICE, refund_at)
            assert not await accounts.refund_payment("c2", refund_at)  # already refunded
            assert not await accounts.refund_payment("nope", refund_at)

            assert await accounts.refund_payment("c1", refund_at)
            assert not await accounts.is_pro(ALICE, refund_at)
            refunded = {
                p["telegram_payment_charge_id"]: p["refunded_at"] for p in await accounts.payments(ALICE)
            }
            assert refunded == {"c1": refund_at.isoformat(), "c2": refund_at.isoformat()}
            # A redelivered successful_payment for a refunded charge grants nothing either.
            assert not await accounts.record_payment(ALICE, "c1", "pro:30", "XTR", 250, 30, refund_at)
            assert not await accounts.is_pro(ALICE, refund_at)

    run(scenario())


def test_concurrent_refunds_revoke_once(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.record_payment(ALICE, "c1", "pro:30", "XTR", 250, 30, NOW)
            await accounts.record_payment(ALICE, "c2", "pro:30", "XTR", 250, 30, NOW)
            results = await asyncio.gather(*(accounts.refund_payment("c2", NOW) for _ in range(6)))
            assert results.count(True) == 1
            assert await accounts.pro_until(ALICE) == NOW + timedelta(days=30)

    run(scenario())


# --- usage --------------------------------------------------------------------------------------


def test_usage_counter_is_atomic(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru")
            assert await accounts.usage(ALICE, "partner_messages", DAY) == 0
            # Each call opens its own session: 20 transactions racing on one row.
            values = await asyncio.gather(
                *(accounts.increment_usage(ALICE, "partner_messages", DAY) for _ in range(20))
            )
            assert sorted(values) == list(range(1, 21))
            assert await accounts.usage(ALICE, "partner_messages", DAY) == 20
            assert await accounts.usage(ALICE, "partner_messages", DAY + timedelta(days=1)) == 0
            assert await accounts.usage(ALICE, "voice", DAY) == 0
            assert await accounts.increment_usage(ALICE, "partner_messages", DAY + timedelta(days=1)) == 1

    run(scenario())


# --- the user's rights ----------------------------------------------------------------------------


async def _full_account(accounts: Accounts, user_id: int) -> None:
    await accounts.get_or_create_user(user_id, "ru", now=NOW)
    await accounts.set_persona(user_id, "dora")
    await accounts.set_adult(user_id, confirmed=True, opt_in=True, now=NOW)
    for document, version in VERSIONS.items():
        await accounts.record_consent(user_id, document, version, NOW)
    await accounts.record_payment(user_id, f"charge-{user_id}", "pro:30", "XTR", 250, 30, NOW)
    await accounts.record_payment(user_id, f"charge-{user_id}-b", "pro:30", "XTR", 250, 30, NOW)
    await accounts.refund_payment(f"charge-{user_id}-b", NOW)
    for _ in range(3):
        await accounts.increment_usage(user_id, "partner_messages", DAY)
    await accounts.record_event(user_id, "message", NOW, persona_id="dora", kind="voice")
    async with accounts._session() as s, s.begin():  # a message not answered yet (sealed, see Inbox)
        s.add(
            PendingMessage(
                id=f"m{user_id}",
                user_id=user_id,
                chat_id=user_id,
                update_id=user_id,
                received_at=NOW,
                persona_id="dora",
                flags="{}",
                ciphertext="sealed",
            )
        )
        # a reply rated 👎, and the training material kept for it (the user shares, sealed like the inbox)
        s.add(
            Reply(
                chat_id=user_id,
                message_id=7,
                user_id=user_id,
                turn_id="t",
                persona_id="dora",
                model="m",
                sent_at=NOW,
            )
        )
        s.add(
            Rating(
                chat_id=user_id,
                message_id=7,
                user_id=user_id,
                persona_id="dora",
                model="m",
                value=-1,
                source="reaction",
                rated_at=NOW,
            )
        )
        s.add(
            TrainingExample(
                id=f"x{user_id}",
                user_id=user_id,
                chat_id=user_id,
                message_id=7,
                persona_id="dora",
                lang="ru",
                kept_at=NOW,
                ciphertext="sealed",
            )
        )
    await accounts.share_for_training(user_id, "v1", NOW)


def test_export_holds_the_account_and_no_message_text(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await _full_account(accounts, ALICE)
            await _full_account(accounts, BOB)
            exported = await accounts.export_account(ALICE)

            assert json.loads(json.dumps(exported)) == exported  # plain JSON, round-trips
            assert set(exported) == {
                "user",
                "consents",
                "subscription",
                "payments",
                "usage",
                "events",
                "ratings",
            }
            assert exported["ratings"] == [
                {
                    "chat_id": ALICE,
                    "message_id": 7,
                    "persona_id": "dora",
                    "model": "m",
                    "value": -1,
                    "source": "reaction",
                    "rated_at": NOW.isoformat(),
                }
            ]
            assert exported["events"] == [
                {"name": "message", "at": NOW.isoformat(), "persona_id": "dora", "kind": "voice"}
            ]
            assert exported["user"] == {
                "id": ALICE,
                "language": "ru",
                "persona_id": "dora",
                "created_at": NOW.isoformat(),
                "blocked_bot": False,
                "adult_confirmed_at": NOW.isoformat(),
                "adult_opt_in": True,
                "minor_since": None,
            }
            consents = [(c["document"], c["version"]) for c in exported["consents"]]
            assert consents == [*VERSIONS.items(), ("training", "v1")]
            assert exported["subscription"] == {"expires_at": (NOW + timedelta(days=30)).isoformat()}
            assert [p["refunded_at"] is not None for p in exported["payments"]] == [False, True]
            assert exported["usage"] == [{"day": DAY.isoformat(), "counter": "partner_messages", "value": 3}]
            assert str(BOB) not in json.dumps(exported)  # nobody else's data

            # No column could hold what the user wrote in the clear (the inbox holds ciphertext only).
            columns = {c.name for table in Base.metadata.tables.values() for c in table.columns}
            assert not columns & {"text", "message", "messages", "content", "body", "caption"}

            empty = await accounts.export_account(424242)
            assert empty == {
                "user": None,
                "consents": [],
                "subscription": None,
                "payments": [],
                "usage": [],
                "events": [],
                "ratings": [],
            }

    run(scenario())


def test_delete_account_wipes_every_table_and_only_that_user(url: str) -> None:
    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await _full_account(accounts, ALICE)
            await _full_account(accounts, BOB)
            bob_before = await accounts.export_account(BOB)
            assert all(n > 0 for n in (await _rows_for(url, ALICE)).values())

            counts = await accounts.delete_account(ALICE)
            assert counts == {
                "training_examples": 1,
                "ratings": 1,
                "replies": 1,
                "consents": 3,
                "subscriptions": 1,
                "payments": 2,
                "usage_counters": 1,
                "events": 1,
                "inbox": 1,
                "users": 1,
            }
            assert set(counts) == set(Base.metadata.tables)  # every table was visited
            assert await _rows_for(url, ALICE) == dict.fromkeys(Base.metadata.tables, 0)
            assert await accounts.export_account(BOB) == bob_before
            assert await accounts.delete_account(ALICE) == dict.fromkeys(counts, 0)

            # A wiped user who comes back starts from scratch.
            back = await accounts.get_or_create_user(ALICE, "en")
            assert back.language == "en" and not await accounts.has_consented(ALICE, VERSIONS)

    run(scenario())


def test_inbox_keeps_messages_encrypted_until_answered(url: str, tmp_path: Path) -> None:
    """Push, take a turn, "crash" (take again: the same turn), answer (done): on both backends."""
    from agent.safety import UserFlags
    from bot.db.inbox import Inbox
    from memory.crypto import FileKeyStore, Keyring

    keyring = Keyring(b"k" * 32, FileKeyStore(tmp_path / "keys"))

    def cipher_for(account_id: int):  # type: ignore[no-untyped-def]
        return keyring.cipher(f"tg:{account_id}")

    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru", now=NOW)
            engine, sessions = create_engine_and_sessions(url)
            inbox = Inbox(sessions, cipher_for)
            flags = UserFlags(pro=True)

            async def push(text: str, update_id: int, seconds: int, persona: str = "dora") -> str | None:
                at = NOW + timedelta(seconds=seconds)
                return await inbox.push(
                    user_id=ALICE,
                    chat_id=ALICE,
                    text=text,
                    persona_id=persona,
                    flags=flags,
                    update_id=update_id,
                    now=at,
                )

            try:
                first = await push("У меня кот Бублик", 10, 0)
                assert first is not None
                assert await push("У меня кот Бублик", 10, 0) is None  # redelivered: nothing added
                await push("и собака", 11, 1, persona="mark")
                async with engine.connect() as conn:
                    stored = (await conn.execute(select(PendingMessage.ciphertext))).scalars().all()
                assert len(stored) == 2 and not [s for s in stored if "Бублик" in s or "собака" in s]

                turn = await inbox.take(ALICE)
                assert turn is not None and turn.id == first
                assert turn.texts == ["У меня кот Бублик", "и собака"]
                assert (turn.persona_id, turn.flags) == ("mark", flags)  # as of the newest message
                await push("ещё", 12, 2, persona="mark")
                retried = await inbox.take(ALICE)  # the worker died mid-turn: the same turn again
                assert retried is not None and (retried.id, retried.texts) == (turn.id, turn.texts)
                assert retried.retried and not turn.retried
                assert await inbox.waiting_chats(now=NOW + timedelta(seconds=5)) == [ALICE]
                await inbox.done(turn.id)
                following = await inbox.take(ALICE)
                assert following is not None and following.texts == ["ещё"]
                await inbox.done(following.id)
                assert await inbox.take(ALICE) is None
                assert await inbox.waiting_chats(now=NOW + timedelta(days=1)) == []

                await inbox.push(
                    user_id=ALICE, chat_id=ALICE, text="x", persona_id="dora", flags=flags, update_id=13
                )
                assert (await accounts.delete_account(ALICE))["inbox"] == 1  # a wipe takes it too
            finally:
                await engine.dispose()

    run(scenario())


def test_an_unsure_voice_note_marks_its_whole_turn(url: str, tmp_path: Path) -> None:
    """A message that may be misheard keeps that mark through the inbox, and the turn it is answered
    in (messages sent together are one turn, one stored message) learns no facts; on both backends."""
    from agent.safety import UserFlags
    from bot.db.inbox import Inbox
    from memory.crypto import FileKeyStore, Keyring

    keyring = Keyring(b"k" * 32, FileKeyStore(tmp_path / "keys"))

    async def scenario() -> None:
        async with accounts_on(url) as accounts:
            await accounts.get_or_create_user(ALICE, "ru", now=NOW)
            engine, sessions = create_engine_and_sessions(url)
            inbox = Inbox(sessions, lambda account_id: keyring.cipher(f"tg:{account_id}"))  # type: ignore[arg-type,return-value]
            flags = UserFlags()
            try:
                for n, (text, unsure) in enumerate(
                    [("обычный текст", False), ("в бассейный пункт рам", True)]
                ):
                    await inbox.push(
                        user_id=ALICE,
                        chat_id=ALICE,
                        text=text,
                        persona_id="dora",
                        flags=flags,
                        update_id=20 + n,
                        now=NOW + timedelta(seconds=n),
                        unsure=unsure,
                    )
                turn = await inbox.take(ALICE)
                assert turn is not None and turn.unsure and len(turn.texts) == 2
                retried = await inbox.take(ALICE)
                assert retried is not None and retried.retried and retried.unsure
                await inbox.done(turn.id)
                await inbox.push(
                    user_id=ALICE, chat_id=ALICE, text="текст", persona_id="dora", flags=flags, update_id=30
                )
                plain = await inbox.take(ALICE)
                assert plain is not None and not plain.unsure
            finally:
                await engine.dispose()

    run(scenario())
