"""Builds the memory engine (and later the agent and bot) from :class:`Settings`: the one place that wires."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from threadpoolctl import threadpool_limits

from agent.background import BackgroundQueue
from agent.checkpoint import open_checkpointer
from agent.companion import Companion
from agent.graph import AgentDeps, Role
from agent.locks import LocalUserLocks, RedisUserLocks, UserLocks
from agent.photos import PhotoTools
from agent.safety import Bank, HelpLines, SafetyClassifier, load_examples
from dora.config import Settings
from memory.chroma_store import ChromaStore
from memory.crypto import FileKeyStore, Keyring, load_or_create_master_key
from memory.embeddings import RecentQueries, VectorEmbeddings, make_embeddings
from memory.key_rotation import load_or_create_root
from memory.retrieval import RankingWeights
from memory.store import MemoryStore
from personas.library import PersonaLibrary

if TYPE_CHECKING:
    from redis.asyncio import Redis

# No telemetry and no hub downloads, whatever library asks.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


_blas_limit: threadpool_limits | None = None


def limit_threads() -> None:
    """One BLAS thread: on two cores, OpenBLAS threads spinning after each matmul starve the
    embedder (measured: search p95 25-100 ms with default threads, 6 ms with one)."""
    global _blas_limit
    if _blas_limit is None:
        _blas_limit = threadpool_limits(limits=1, user_api="blas")


def build_keyring(settings: Settings) -> Keyring:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    master = load_or_create_master_key(
        secret, settings.data_dir / "secret.key", settings.data_dir / "key.check"
    )
    root = load_or_create_root(master, settings.data_dir)  # what the master unlocks (see key_rotation)
    files = FileKeyStore(settings.data_dir / "keys")
    if settings.postgres_url:  # workers on several hosts share the database, not the data dir
        from memory.pg_keystore import PostgresKeyStore

        return Keyring(root, PostgresKeyStore(settings.postgres_url, legacy=files))
    return Keyring(root, files)


def build_chroma(settings: Settings) -> ChromaStore:
    if settings.chroma_url:
        return ChromaStore(url=settings.chroma_url)
    return ChromaStore(path=settings.data_dir / "chroma")


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
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return MemoryStore(
        chroma=build_chroma(settings),
        keyring=build_keyring(settings),
        embeddings=embeddings or RecentQueries(make_embeddings(settings.embeddings_model)),
        weights=ranking_weights(settings),
        cache_check_s=settings.memory_cache_check_s,
        cached_users=settings.memory_cached_users,
    )


def build_safety(
    settings: Settings, embeddings: VectorEmbeddings | None = None
) -> tuple[SafetyClassifier, VectorEmbeddings]:
    """The safety classifier on memory's embedder (its bank's vectors ship for the bundled e5)."""
    embeddings = embeddings or RecentQueries(make_embeddings(settings.embeddings_model))
    name = getattr(embeddings, "name", "")
    bank = Bank.build(load_examples(), embeddings, name=name)
    return SafetyClassifier(bank), embeddings


def build_helplines(settings: Settings) -> HelpLines:
    return HelpLines.load(settings.helplines_file)


def imported_personas_dir(settings: Settings) -> Path:
    """Where `dora personas import` puts cards."""
    return settings.data_dir / "personas"


def build_photo_tools(settings: Settings, memory: MemoryStore) -> PhotoTools:
    """The photo selector on memory's embedder, and the generator when DORA_IMAGE_MODEL is set."""
    from tools.photos import PhotoSelector

    generator = None
    if settings.image_model is not None:  # diffusers and torch load only when a model is configured
        from tools.imagegen import build_generator

        generator = build_generator(settings)
    return PhotoTools(
        selector=PhotoSelector(memory.embeddings, min_score=settings.photo_min_score),
        generator=generator,
    )


def build_personas(settings: Settings) -> PersonaLibrary:
    """Built-in cards, then imported ones, then DORA_PERSONAS_DIR (later ones win on an id)."""
    extra = [d for d in (imported_personas_dir(settings),) if d.is_dir()]
    if settings.personas_dir:
        extra.append(settings.personas_dir)
    return PersonaLibrary(extra_dirs=extra)


def redacted(url: str) -> str:
    """``url`` without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class ServiceUnavailableError(RuntimeError):
    """A configured server (Redis, PostgreSQL) did not answer at start: names the setting. Here, not
    in the bot: `dora chat` on PostgreSQL meets it too."""


def unavailable(what: str, url: str, setting: str, exc: BaseException) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"{what} at {redacted(url)} ({setting}) is unreachable: {type(exc).__name__}: {exc}".strip()
    )


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis | None]:
    """The shared Redis client when DORA_REDIS_URL is set (checked with a PING at start), else None."""
    if not settings.redis_url:
        yield None
        return
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise unavailable("Redis", settings.redis_url, "DORA_REDIS_URL", exc) from exc
    try:
        yield client
    finally:
        await client.aclose()


def build_locks(redis: Redis | None, settings: Settings) -> UserLocks:
    """Per-user locks across workers on Redis, or in this process."""
    if redis is None:
        return LocalUserLocks()
    return RedisUserLocks(redis, lease_s=settings.lock_lease_s)


@asynccontextmanager
async def open_companion(
    settings: Settings,
    *,
    memory: MemoryStore | None = None,
    llm_for: Callable[[Role], BaseChatModel] | None = None,
    drain_timeout_s: float | None = 120.0,
    locks: UserLocks | None = None,
) -> AsyncIterator[Companion]:
    """The companion agent on the configured stores and LLM backend; on exit, background work is
    given ``drain_timeout_s`` to finish (whatever is left stays pending and resumes next time).
    ``locks`` order each user's memory work across workers (Redis); default: this process only."""
    memory = memory or build_memory(settings)
    keyring = memory.keyring
    registry = None
    if llm_for is None:
        from agent.llm.factory import LLMRegistry  # llama.cpp / transformers load only when used

        registry = LLMRegistry(settings)
        llm_for = registry.get
    deps = AgentDeps(
        photos=build_photo_tools(settings, memory),
        memory=memory,
        personas=build_personas(settings),
        llm_for=llm_for,
        history_token_budget=settings.history_token_budget,
        memory_top_k=settings.memory_top_k,
        use_tools=settings.llm != "local",
        prewarm=settings.llm == "local" and registry is not None,
        retries=settings.llm_retries,
        safety=build_safety(settings, memory.embeddings)[0],
        helplines=build_helplines(settings),
    )
    async with _checkpointer(settings, keyring) as saver:
        companion = Companion(
            deps,
            saver,
            keyring,
            message_max_chars=settings.message_max_chars,
            background=BackgroundQueue(locks=locks),
        )
        try:
            yield companion
        finally:
            await companion.background.close(drain_timeout_s)
            memory.flush()


@asynccontextmanager
async def _checkpointer(settings: Settings, keyring: Keyring) -> AsyncIterator[BaseCheckpointSaver]:
    """The conversation checkpointer; PostgreSQL that does not answer is one clear error."""
    async with AsyncExitStack() as stack:
        try:
            saver = await stack.enter_async_context(
                open_checkpointer(keyring, settings.data_dir, settings.postgres_url)
            )
        except Exception as exc:
            if settings.postgres_url and _is_connection_error(exc):
                raise unavailable("PostgreSQL", settings.postgres_url, "DORA_POSTGRES_URL", exc) from exc
            raise
        yield saver


def _is_connection_error(exc: BaseException) -> bool:
    """psycopg's and SQLAlchemy's "could not connect" (without importing either here)."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(names & {"OperationalError", "ConnectionError", "ConnectionRefusedError", "PoolTimeout"})
