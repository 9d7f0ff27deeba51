"""Remove what embedded Chroma leaves on disk after a collection is deleted.

``delete_collection`` in Chroma 1.x drops the collection's rows but keeps its HNSW segment folder
(the user's vectors) and leaves the freed SQLite pages (vectors and encrypted metadata) in
``chroma.sqlite3`` until something rewrites them. A wipe must leave no trace, so after deleting a
collection the store removes segment folders that no segment row names any more and rewrites the
SQLite file (``VACUUM``).

Deleting rows is not enough either: Chroma's write-ahead log (``embeddings_queue``) keeps every
write, the encrypted metadata with it, until the vector segment has persisted past it (up to its
``hnsw:sync_threshold`` writes later), so a forgotten memory's ciphertext outlives its row there.
:func:`redact_log` removes a forgotten row's older log entries, keeping only its last one (the
delete, or the rewritten row), which is all a replay of the log needs to end in the same state.

This depends on Chroma's on-disk layout (``chroma.sqlite3`` with a ``segments`` table, one folder
per segment id); the wipe tests byte-search the data dir for the user's vectors and fail if the
layout changes under it. A Chroma server keeps its own disk: this cannot reach it.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def purge_deleted_collections(path: Path, busy_timeout_s: float = 30.0) -> list[str]:
    """Delete orphaned segment folders under ``path`` and VACUUM ``chroma.sqlite3``; returns the
    folders removed. Safe while the embedded client is open: a folder is only an orphan once its
    segment row is gone, and SQLite serialises the VACUUM with Chroma's own writes."""
    database = path / "chroma.sqlite3"
    if not database.exists():
        return []
    connection = sqlite3.connect(database, timeout=busy_timeout_s, isolation_level=None)
    try:
        live = {row[0] for row in connection.execute("SELECT id FROM segments")}
        removed = []
        for folder in path.iterdir():
            if folder.is_dir() and _SEGMENT_DIR.fullmatch(folder.name) and folder.name not in live:
                shutil.rmtree(folder)
                removed.append(folder.name)
        connection.execute("VACUUM")
    finally:
        connection.close()
    if removed:
        log.info("memory store: removed %d deleted segment folder(s)", len(removed))
    return removed


def redact_log(path: Path, ids: list[str], busy_timeout_s: float = 30.0) -> int:
    """Drop every write-ahead-log entry of these rows but the last one of each, then VACUUM; returns
    how many entries went. The last entry is kept because a segment that has not persisted past it
    replays the log on start: a delete (or the rewritten row) is then what it ends with, as it
    would have."""
    database = path / "chroma.sqlite3"
    if not ids or not database.exists():
        return 0
    connection = sqlite3.connect(database, timeout=busy_timeout_s, isolation_level=None)
    try:
        marks = ",".join("?" * len(ids))
        cursor = connection.execute(
            f"""DELETE FROM embeddings_queue WHERE id IN ({marks}) AND seq_id < (
                SELECT max(later.seq_id) FROM embeddings_queue AS later
                WHERE later.id = embeddings_queue.id AND later.topic = embeddings_queue.topic)""",
            ids,
        )
        removed = cursor.rowcount
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return removed
