"""Where conversations are checkpointed: SQLite in the data dir, or PostgreSQL when configured.

Checkpoints hold the conversation's text, so every blob is encrypted with a key of the user whose
thread it belongs to: AES-GCM under a key HKDF derives from the user's data key (the one memory
uses, wrapped by the master key in the key store). A wipe shreds that data key
(:meth:`memory.crypto.Keyring.shred`), and with it every copy of the user's conversations: rows in
old backups of the checkpoint database, or in free pages, can no longer be decrypted, while other
users' still can.

How the key is found, both ways, with LangGraph's savers as they are:

- *writing*: thread ids are ``"{user_key}:{persona or ~profile}"`` (``agent.companion``), so the
  savers here (LangGraph's own, subclassed) read the user's opaque name from the config of each
  ``aput``/``aput_writes`` and put it in a context variable for the serializer; LangGraph serializes
  inside those calls (PostgreSQL in ``asyncio.to_thread``, which copies the context). A write with
  no user in its thread id is refused, never quietly encrypted with a shared key.
- *reading*: each blob starts with the user's opaque name (16 bytes; the thread id holds it in the
  clear anyway), so a blob names its own key and reading needs no context. A reader never creates
  a key: a wiped user's blob raises :class:`ShreddedCheckpointError`.

Checkpoints written before this (LangGraph's ``EncryptedSerializer``, one key derived from the
master key, cipher name ``aes``) are still read with that key; whatever is written after is
per-user. PostgreSQL's saver keeps a checkpoint's plain values (strings, numbers: the rolling
summary, the user id) inline in a JSONB column, outside the serializer; here they are sealed into
the encrypted blobs table like the rest.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
from aiosqlite.context import contextmanager as aiosqlite_contextmanager
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import CipherProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from common.sqlite_trips import Outcome, run_many, run_statement
from memory.crypto import DecryptionError, Keyring

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow

SQLITE_NAME = "checkpoints.sqlite"
SETUP_LOCK_KEY = 0x646F_6370  # "docp": LangGraph's checkpoint migrations, one worker at a time

CIPHER = "dora-user-gcm"  # the cipher name LangGraph stores beside the type: "msgpack+dora-user-gcm"
PURPOSE = "checkpoints"  # Keyring.user_secret(user_key, PURPOSE): the user's checkpoint key
_NAME_BYTES = 16  # a user key is 32 hex digits
_NONCE_BYTES = 12
_THREAD_USER = re.compile(r"^([0-9a-f]{32}):")
_writing_for: ContextVar[str | None] = ContextVar("dora_checkpoint_user", default=None)


class ShreddedCheckpointError(DecryptionError):
    """The checkpoint belongs to a user whose data key is gone (wiped): it can't be read, by design."""


@dataclass(frozen=True, slots=True)
class _Sealed:
    """A plain channel value PostgreSQL's saver would keep inline (in clear JSONB): boxed, it goes to
    the blobs table through the serializer, which unboxes it."""

    value: Any


def thread_user(thread_id: str) -> str | None:
    """The user's opaque name at the head of a thread id (``"{user_key}:{...}"``), or None."""
    found = _THREAD_USER.match(thread_id)
    return found.group(1) if found else None


class UserKeyedCipher(CipherProtocol):
    """LangGraph's cipher protocol with a key per user (see the module's docstring): writes use the
    key of the user whose thread is being written; a blob names its user, so reads need no context.
    ``aes`` blobs (before per-user keys) are read with the legacy master-derived key."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._legacy = EncryptedSerializer.from_pycryptodome_aes(key=keyring.derive(PURPOSE)).cipher

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        user_key = _writing_for.get()
        if user_key is None:
            raise RuntimeError(
                "a checkpoint write outside a user's thread (thread ids start with the user's key): "
                "DORA does not encrypt conversations with a shared key"
            )
        key = self.keyring.user_secret(user_key, PURPOSE)
        assert key is not None  # created on first write
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext, _aad(user_key))
        return CIPHER, bytes.fromhex(user_key) + nonce + sealed

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != CIPHER:
            return self._legacy.decrypt(ciphername, ciphertext)
        user_key = ciphertext[:_NAME_BYTES].hex()
        key = self.keyring.user_secret(user_key, PURPOSE, create=False)
        if key is None:
            raise ShreddedCheckpointError(
                "a conversation checkpoint of a wiped user: their data key was shredded, so it can't be read"
            )
        nonce = ciphertext[_NAME_BYTES : _NAME_BYTES + _NONCE_BYTES]
        try:
            return AESGCM(key).decrypt(nonce, ciphertext[_NAME_BYTES + _NONCE_BYTES :], _aad(user_key))
        except InvalidTag as exc:
            raise DecryptionError(
                "a conversation checkpoint could not be decrypted: it is damaged, or the user's data key "
                "is not the one it was written with"
            ) from exc


class UserKeyedSerializer(EncryptedSerializer):
    """LangGraph's ``EncryptedSerializer`` with :class:`UserKeyedCipher`, unboxing sealed values."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return super().dumps_typed(obj.value if isinstance(obj, _Sealed) else obj)


def checkpoint_serde(keyring: Keyring) -> UserKeyedSerializer:
    return UserKeyedSerializer(UserKeyedCipher(keyring), JsonPlusSerializer())


def _aad(user_key: str) -> bytes:
    return f"dora/checkpoint|{user_key}".encode()


@contextmanager
def _user_of(config: Any) -> Iterator[None]:
    """The user whose thread a saver call writes, for the serializer (reset afterwards)."""
    token = _writing_for.set(thread_user(str(config["configurable"]["thread_id"])))
    try:
        yield
    finally:
        _writing_for.reset(token)


class _UserScoped(BaseCheckpointSaver):
    def with_allowlist(self, extra_allowlist: Any) -> Any:
        """LangGraph's strict msgpack mode (LANGGRAPH_STRICT_MSGPACK) rebuilds an encrypted serde as a
        plain ``EncryptedSerializer`` around the same cipher: keep ours (it unboxes sealed values)."""
        clone = super().with_allowlist(extra_allowlist)
        serde = clone.serde
        if isinstance(serde, EncryptedSerializer) and not isinstance(serde, UserKeyedSerializer):
            clone.serde = UserKeyedSerializer(serde.cipher, serde.serde)
        return clone


class _BufferedCursor:
    """An aiosqlite-style cursor whose statement runs whole in one trip to the connection's thread
    (:func:`~common.sqlite_trips.run_statement`), its rows then read from memory. LangGraph's saver
    opens a cursor, executes, fetches and closes, each a trip of aiosqlite's: about 20 trips a turn,
    each waking the event loop on its way back. The rows are the same; they are read at once."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._outcome = Outcome()
        self._rows: collections.deque[Any] = collections.deque()

    async def execute(self, sql: str, parameters: Any = None) -> _BufferedCursor:
        conn = self._connection
        self._outcome, rows = await conn._execute(run_statement, conn._conn, sql, parameters)
        self._rows = collections.deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _BufferedCursor:
        conn = self._connection
        self._outcome = await conn._execute(run_many, conn._conn, sql, parameters)
        self._rows.clear()
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self._outcome.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def __aiter__(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    async def close(self) -> None:
        self._rows.clear()

    async def __aenter__(self) -> _BufferedCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def rowcount(self) -> int:
        return self._outcome.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._outcome.lastrowid

    @property
    def description(self) -> Any:
        return self._outcome.description


class _OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection whose ``cursor()`` is a :class:`_BufferedCursor` (what LangGraph's
    SQLite saver reads and writes through, but for ``execute``, left as it was)."""

    @aiosqlite_contextmanager
    async def cursor(self) -> _BufferedCursor:  # type: ignore[override]
        return _BufferedCursor(self)


class UserKeyedSqliteSaver(_UserScoped, AsyncSqliteSaver):
    """LangGraph's SQLite saver, its writes scoped to the thread's user (see the module's docstring)."""

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        with _user_of(config):
            return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        with _user_of(config):
            await super().aput_writes(config, writes, task_id, task_path)


@functools.cache
def _postgres_saver() -> type:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    class UserKeyedPostgresSaver(_UserScoped, AsyncPostgresSaver):
        """LangGraph's PostgreSQL saver, writes scoped to the thread's user, plain values sealed."""

        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            values, versions = checkpoint["channel_values"], checkpoint["channel_versions"]
            plain = [
                k
                for k, v in values.items()
                if k in versions and v is not None and isinstance(v, str | int | float | bool)
            ]
            if plain:
                checkpoint = {
                    **checkpoint,
                    "channel_values": {**values, **{k: _Sealed(values[k]) for k in plain}},
                }
                # a blob is written only for a channel in new_versions: an unchanged value gets its
                # blob too (a no-op when it has one; a value a legacy checkpoint kept inline moves)
                new_versions = {**{k: versions[k] for k in plain}, **new_versions}
            with _user_of(config):
                return await super().aput(config, checkpoint, metadata, new_versions)

        async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            with _user_of(config):
                await super().aput_writes(config, writes, task_id, task_path)

    return UserKeyedPostgresSaver


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
    serde = checkpoint_serde(keyring)
    if postgres_url:
        async with _postgres_saver().from_conn_string(postgres_url, serde=serde) as saver:
            async with _one_setup_at_a_time(saver.conn):
                await saver.setup()
            yield saver
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(data_dir / SQLITE_NAME)
    conn.__class__ = _OneTripConnection  # the same connection; only its cursors change
    try:
        # WAL (set by setup) with synchronous=NORMAL: a commit is durable against a crash of the
        # process, and only the fsync at WAL checkpoints remains on the reply path.
        await conn.execute("PRAGMA synchronous=NORMAL")
        saver = UserKeyedSqliteSaver(conn, serde=serde)
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
