"""Where the bot's database is, how to connect to it, and how its schema is brought up to date.

SQLite in the data dir by default (nothing to run), PostgreSQL for several bot workers; the
application's root says which, as a SQLAlchemy URL. The schema comes only from the Alembic
migrations shipped in this package, so :func:`migrate` works the same from a checkout and from an
installed wheel.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from common.sqlite_trips import Outcome, run_many, run_statement

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 15_000
MIGRATION_LOCK_KEY = 0x0D0_8A_DB  # any constant, shared by every worker of this app


POOL_TIMEOUT_S = 600.0
# Connections SQLite keeps open. SQLAlchemy's default of 5 (plus 10 opened and closed on demand)
# was below what one bot process uses at once with 50 users talking: connections were opened and
# closed all the time, each a new aiosqlite thread and four PRAGMAs (53 openings in one run of
# `dora bench bot --users 50 --messages 4`). An idle connection costs a parked thread only.
SQLITE_POOL_SIZE = 15


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off in SQLite unless asked for.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A statement in one trip to the connection's thread: SQLAlchemy's aiosqlite cursor makes four
    (open a cursor, execute, fetch the rows, close it), each a hand-over between threads with the
    event loop woken on the way back, which under load cost more CPU than the statements (about 70
    trips a turn in ``dora bench bot``, 40 of them opening, fetching and closing). Here
    :func:`~common.sqlite_trips.run_statement` does all four on that thread and hands back the rows
    with what SQLAlchemy reads after (description, rowcount, lastrowid); errors come back the same
    way as before."""

    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return Outcome()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            driver = self._connection
            outcome, rows = await driver._execute(run_statement, driver._conn, operation, parameters)  # type: ignore[attr-defined]
            self._cursor = outcome
            self._rows = collections.deque(rows)
            return self

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            driver = self._connection
            self._cursor = await driver._execute(run_many, driver._conn, operation, seq_of_parameters)  # type: ignore[attr-defined]
            return self


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection with :class:`_OneTripCursor` for its (client-side) cursors."""

    __slots__ = ()
    _cursor_cls = _OneTripCursor


def _one_trip_statements(dbapi_connection: Any, _record: Any) -> None:
    # the same object, another class of the same layout: only the cursor it makes changes
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = _OneTripConnection


def _skip_idle_rollbacks(engine: AsyncEngine) -> None:
    """Roll back a SQLite connection only when it is in a transaction. SQLAlchemy rolls back at the
    end of every session, reads included, and each rollback is a round trip to the connection's
    aiosqlite thread; Python's sqlite3 opens a transaction only for a write and rolls back nothing
    outside one, so skipping the call when none is open changes nothing but the cost."""
    dialect = engine.sync_engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and not driver.in_transaction:
            return
        rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    file_db = sqlite and bool(parsed.database) and parsed.database != ":memory:"
    # Under overload a handler waits its turn for a connection rather than failing after the pool's
    # default 30 s: measured with 500 users at once on SQLite, that timeout turned late replies
    # into "something went wrong, write again" (and the message had to be sent twice).
    options: dict[str, Any] = {"pool_timeout": POOL_TIMEOUT_S}
    if file_db:
        options["pool_size"] = SQLITE_POOL_SIZE
    engine = create_async_engine(url, pool_pre_ping=parsed.get_backend_name() == "postgresql", **options)
    if sqlite:
        if file_db:
            assert parsed.database is not None
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if parsed.get_driver_name() == "aiosqlite":
            event.listen(engine.sync_engine, "connect", _one_trip_statements)
            _skip_idle_rollbacks(engine)
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
