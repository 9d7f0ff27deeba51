"""Where conversations are checkpointed: SQLite in the data dir, or PostgreSQL when configured.

Checkpoints hold the conversation's text, so they go through LangGraph's own
``EncryptedSerializer`` (AES) with a key derived from DORA's master key: the same secret that
protects memory protects the chat history, and nothing new has to be managed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from memory.crypto import Keyring

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow

SQLITE_NAME = "checkpoints.sqlite"
SETUP_LOCK_KEY = 0x646F_6370  # "docp": LangGraph's checkpoint migrations, one worker at a time


def encrypted_serde(keyring: Keyring) -> EncryptedSerializer:
    return EncryptedSerializer.from_pycryptodome_aes(key=keyring.derive("checkpoints"))


@asynccontextmanager
async def _one_setup_at_a_time(
    conn: AsyncConnection[DictRow], timeout_s: float = 120.0
) -> AsyncIterator[None]:
    """Workers starting together on a fresh database would each run LangGraph's migrations, and
    CREATE TABLE IF NOT EXISTS is not atomic (each also inserts its version row). The first runs
    them under a session advisory lock; the rest find them done. The others poll with
    ``pg_try_advisory_lock`` rather than wait in ``pg_advisory_lock``: a waiting statement is an
    open transaction, and the migrations' CREATE INDEX CONCURRENTLY waits for every open
    transaction to end, so a blocking wait deadlocks."""
    deadline = time.monotonic() + timeout_s
    while not (
        await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK_KEY,))).fetchone()
    )["ok"]:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"another DORA worker has held the checkpoint setup lock for {timeout_s:.0f} s "
                "(DORA_POSTGRES_URL): is a migration stuck?"
            )
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


@asynccontextmanager
async def open_checkpointer(
    keyring: Keyring, data_dir: Path, postgres_url: str | None = None
) -> AsyncIterator[BaseCheckpointSaver]:
    """An encrypted checkpointer, set up and ready; closed on exit."""
    serde = encrypted_serde(keyring)
    if postgres_url:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(postgres_url, serde=serde) as saver:
            async with _one_setup_at_a_time(saver.conn):
                await saver.setup()
            yield saver
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(data_dir / SQLITE_NAME)
    try:
        # WAL (set by setup) with synchronous=NORMAL: a commit is durable against a crash of the
        # process, and only the fsync at WAL checkpoints remains on the reply path.
        await conn.execute("PRAGMA synchronous=NORMAL")
        saver = AsyncSqliteSaver(conn, serde=serde)
        await saver.setup()
        yield saver
    finally:
        await conn.close()


async def vacuum(saver: BaseCheckpointSaver) -> None:
    """After a wipe, rewrite the SQLite file so deleted pages don't linger on disk."""
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock:
            await saver.conn.commit()
            await saver.conn.execute("VACUUM")
