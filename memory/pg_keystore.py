"""Users' wrapped data keys in PostgreSQL, for workers on several hosts.

With files in ``DATA_DIR/keys`` every worker must see the same folder (one host, or a shared
volume); with DORA_POSTGRES_URL set the keys live in the database the workers share anyway. Keys
are wrapped by the data dir's root secret (see :mod:`memory.key_rotation`), so the table alone
opens nothing. Creation is ``INSERT ... ON CONFLICT DO NOTHING``: two workers meeting a new user at
once both end up with the one key that was stored. A shred deletes the row and rewrites the table
(``VACUUM FULL``: it is small), so the wrapped key does not linger in a dead tuple; PostgreSQL's WAL
and backups keep it as long as they keep anything else. Keys that an earlier, file-based setup made
(``legacy``) are found and copied in on first use, so switching a data dir to PostgreSQL loses none.
"""

from __future__ import annotations

import threading

import psycopg

from memory.crypto import KeyStore

TABLE = "dora_user_keys"
SCHEMA_LOCK_KEY = 0x646F_6B65  # "doke": this table's creation, distinct from bot.db's migration lock


class PostgresKeyStore:
    def __init__(self, url: str, legacy: KeyStore | None = None) -> None:
        self._url = url
        self._legacy = legacy
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # one connection, used from the event loop and worker threads

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            # Workers starting together would race CREATE TABLE IF NOT EXISTS, which is not atomic
            # (the loser fails on the table's row type or its index, not on the table): one at a time.
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (user_key text PRIMARY KEY, wrapped bytea NOT NULL)"
                )
            self._conn = conn
        return self._conn

    def load(self, user_key: str) -> bytes | None:
        with self._lock:
            row = (
                self._connection()
                .execute(f"SELECT wrapped FROM {TABLE} WHERE user_key = %s", (user_key,))
                .fetchone()
            )
        if row:
            return bytes(row[0])
        old = self._legacy.load(user_key) if self._legacy is not None else None
        return self.add(user_key, old) if old is not None else None

    def add(self, user_key: str, wrapped: bytes) -> bytes:
        with self._lock:
            conn = self._connection()
            conn.execute(
                f"INSERT INTO {TABLE} (user_key, wrapped) VALUES (%s, %s) ON CONFLICT (user_key) DO NOTHING",
                (user_key, wrapped),
            )
            row = conn.execute(f"SELECT wrapped FROM {TABLE} WHERE user_key = %s", (user_key,)).fetchone()
        assert row is not None
        return bytes(row[0])

    def delete(self, user_key: str) -> bool:
        with self._lock:
            conn = self._connection()
            deleted = conn.execute(f"DELETE FROM {TABLE} WHERE user_key = %s", (user_key,)).rowcount
            if deleted:
                conn.execute(f"VACUUM FULL {TABLE}")
        legacy = self._legacy.delete(user_key) if self._legacy is not None else False
        return bool(deleted) or legacy

    def describe(self, user_key: str) -> str:
        return f"PostgreSQL table {TABLE}, user_key {user_key}"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
