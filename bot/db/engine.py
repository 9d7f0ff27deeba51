"""Where the bot's database is, how to connect to it, and how its schema is brought up to date.

SQLite in the data dir by default (nothing to run), PostgreSQL for several bot workers; the
application's root says which, as a SQLAlchemy URL. The schema comes only from the Alembic
migrations shipped in this package, so :func:`migrate` works the same from a checkout and from an
installed wheel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 15_000
MIGRATION_LOCK_KEY = 0x0D0_8A_DB  # any constant, shared by every worker of this app


POOL_TIMEOUT_S = 600.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off in SQLite unless asked for.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    # Under overload a handler waits its turn for a connection rather than failing after the pool's
    # default 30 s: measured with 500 users at once on SQLite, that timeout turned late replies
    # into "something went wrong, write again" (and the message had to be sent twice).
    engine = create_async_engine(
        url, pool_pre_ping=parsed.get_backend_name() == "postgresql", pool_timeout=POOL_TIMEOUT_S
    )
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_engine_and_sessions(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """An engine and a session factory for it; objects stay readable after commit (no lazy reloads)."""
    engine = _engine(url)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic's config pointed at the migrations inside this package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several workers may start at once: the first migrates, the rest wait and find nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(url: str) -> None:
    """Bring the schema to the newest migration; a no-op when it is already there."""
    engine = _engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()
