"""A SQLite statement run whole on the connection's own thread: cursor opened, executed, rows read,
closed, in one call. aiosqlite and SQLAlchemy's adapter over it make each of those steps a trip of
its own to that thread, and each trip wakes the event loop on its way back: under load those
wake-ups cost more CPU than the statements. Used by the bot's database engine and the SQLite
checkpointer; plain :mod:`sqlite3`, so it may run only on the connection's thread."""

from __future__ import annotations

import sqlite3
from typing import Any


class Outcome:
    """What a statement leaves on its cursor (what callers read after ``execute``)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor | None = None) -> None:
        self.description = cursor.description if cursor else None
        self.rowcount = cursor.rowcount if cursor else -1
        self.lastrowid = cursor.lastrowid if cursor else None
        self.arraysize = cursor.arraysize if cursor else 1

    def close(self) -> None:
        """Nothing to close: the cursor was closed on its thread."""

    async def setinputsizes(self, *sizes: Any) -> None:
        """sqlite3 ignores input sizes."""


def run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[Outcome, list[Any]]:
    """Execute one statement and read all its rows (none for a statement without)."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return Outcome(cursor), rows
    finally:
        cursor.close()


def run_many(connection: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    """Execute one statement for each set of parameters."""
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return Outcome(cursor)
    finally:
        cursor.close()
