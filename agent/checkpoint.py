"""Where conversations are checkpointed: SQLite in the data dir, or PostgreSQL when configured.

Checkpoints hold the conversation's text, so they go through LangGraph's own
``EncryptedSerializer`` (AES) with a key derived from DORA's master key: the same secret that
protects memory protects the chat history, and nothing new has to be managed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from memory.crypto import Keyring

SQLITE_NAME = "checkpoints.sqlite"


def encrypted_serde(keyring: Keyring) -> EncryptedSerializer:
    return EncryptedSerializer.from_pycryptodome_aes(key=keyring.derive("checkpoints"))


@asynccontextmanager
async def open_checkpointer(
    keyring: Keyring, data_dir: Path, postgres_url: str | None = None
) -> AsyncIterator[BaseCheckpointSaver]:
    """An encrypted checkpointer, set up and ready; closed on exit."""
    serde = encrypted_serde(keyring)
    if postgres_url:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(postgres_url, serde=serde) as saver:
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
