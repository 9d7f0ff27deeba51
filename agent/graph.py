"""The companion's LangGraph: prepare → recall → photo → respond (⇄ tools) → end. One thread per
user and persona.

Nodes are closures over :class:`AgentDeps`; the per-turn inputs (user, persona, flags) travel in
the state. Fact extraction and summarising are *not* nodes: they run after the reply, off the
reply path (see :mod:`agent.companion`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from agent.language import Language, detect_language
from agent.llm.errors import LLMTimeoutError
from agent.llm.roles import Role
from agent.memory_reader import accepted, reader_messages
from agent.model_tools import make_tools
from agent.photo_choice import PHOTO_NOTE, PhotoTools, choose_photo, record
from agent.prompts import build_prompt, stop_sequences
from agent.recall import Recalled, choose, earlier_turns, memory_block, needs_memory, recalled_lines
from agent.reply_lead import reply_lead
from agent.safety import HelpLines, SafetyClassifier, UserFlags, adult_unlocked, decide
from agent.safety.text import lemma
from agent.state import ChatState
from agent.summary import recent_window
from memory.models import MemoryKind
from memory.store import EpisodeIn, MemoryStore
from memory.text import for_embedding
from personas.library import PersonaLibrary
from personas.lorebook import LoreMatcher
from personas.modules import Module

log = logging.getLogger(__name__)


@dataclass
class AgentDeps:
    """What the graph needs; built once per process by the application's root (``dora.wiring``)."""

    memory: MemoryStore
    personas: PersonaLibrary
    llm_for: Callable[[Role], BaseChatModel]
    history_token_budget: int = 1200
    memory_top_k: int = 6
    use_tools: bool = False  # bind tools only on backends that call them reliably
    prewarm: bool = False  # evaluate persona prompt prefixes ahead (the local llama.cpp backend)
    photos: PhotoTools | None = None  # the photo selector (and generator); None: no photos
    safety: SafetyClassifier | None = None  # None: the lexicon alone (no example bank)
    helplines: HelpLines = field(default_factory=HelpLines.built_in)
    retries: int = 2
    backoff_s: float = 0.5
    lore_token_budget: int = 500  # lorebook entries per turn, at most (a card's own budget may be smaller)
    lore: LoreMatcher | None = None  # None: keys also match by pymorphy3 lemma (the safety rules' analyser)
    read_memories: bool = False  # a question about the user's life: the reader role picks its answer first
    lead_replies: bool = False  # such a reply starts with what the reader found (llama.cpp goes on)


def lore_matcher() -> LoreMatcher:
    """Lorebook keys matched by text and by lemma, with the analyser the safety rules and memory use."""
    return LoreMatcher(lambda word: lemma(word)[1])


def _text(message: AnyMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)


def _last_human(messages: list[AnyMessage]) -> HumanMessage:
    for m in reversed(messages):
        if isinstance(m, HumanMessage):
            return m
    raise ValueError("a turn needs a user message")


def clean_reply(text: str, persona_name: str) -> str:
    """Small models sometimes prefix the reply with their own name, as in the style examples."""
    text = text.strip()
    for prefix in (f"{persona_name}:", f"{persona_name} :"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    return text


def build_graph(deps: AgentDeps, checkpointer: BaseCheckpointSaver | None = None) -> Any:
    tools = make_tools(lambda: deps.memory, deps.personas, deps.photos)
    # episode writes in flight, by message id
    writes: dict[str, tuple[asyncio.Future[Any], EpisodeIn]] = {}

    safety = deps.safety or SafetyClassifier(None)
    lore = deps.lore or lore_matcher()

    async def prepare(state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        """The safety rules, before any LLM step: the message's e5 vector (memory search and the
        episode reuse it: no second embedding) and the classifier, then the policy's decision. The
        user's profile (minor, crisis risk) is read meanwhile, through the run's ``profile_loader``."""
        text = _text(_last_human(state["messages"]))
        lang = detect_language(text, previous=state.get("lang"))
        loader = config.get("configurable", {}).get("profile_loader")
        loading = asyncio.ensure_future(loader()) if loader else None
        vector = None
        if safety.bank is not None:
            try:
                vector = await asyncio.to_thread(deps.memory.embeddings.query_vector, for_embedding(text))
            except Exception as exc:  # the lexicon still runs
                log.warning("agent: embedding for the safety rules failed (%s)", type(exc).__name__)
        assessment = await asyncio.to_thread(safety.assess, text, vector)  # it may embed once more
        loaded = await loading if loading is not None else state.get("profile", {})
        flags = state.get("flags", {})
        profile = {**loaded}
        profile["minor"] = bool(profile.get("minor") or flags.get("minor") or state.get("minor_suspected"))
        decision = decide(assessment, profile, lang, deps.helplines, datetime.now(UTC))
        return {
            "lang": lang,
            "minor_suspected": bool(decision.profile.get("minor")),
            "minor_now": decision.minor_now,
            "canned": decision.canned,
            "safety_notes": decision.notes,
            "addendum": decision.addendum,
            "profile": decision.profile,
            "safety_event": list(decision.event) if decision.event else None,
            "failed": False,
            "recalled": [],
            "lore": [],
        }

    async def recall(state: ChatState) -> dict[str, Any]:
        """Memories for this message (and the one before, when this one is short), then the message
        itself stored as a pending episode, so a crash after this point loses nothing."""
        messages = state["messages"]
        human = _last_human(messages)
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        query = _text(human)
        if len(query.split()) < 6 and len(humans) > 1:
            query = f"{_text(humans[-2])} {query}"
        persona, user_id = state["persona_id"], state["user_id"]
        visible = {m.id for m in recent_window(messages, deps.history_token_budget)}
        context = [_text(m) for m in humans[-3:-1]]
        unstored = await _store_again(user_id, state.get("unstored", []))
        try:
            found = await asyncio.to_thread(
                deps.memory.search, user_id, query, k=deps.memory_top_k + 4, persona=persona
            )
        except Exception as exc:  # memory is away (a Chroma server restarting): answer without it
            log.warning("agent: memory search failed (%s); replying without memories", type(exc).__name__)
            found = []
        # the message is stored while the model answers (embedding it takes as long as the search:
        # off the first-token path); `respond` waits for it before the turn ends
        # a message that may be misheard is stored as already extracted: no facts are learned from it
        episode = EpisodeIn(
            text=_text(human),
            message_id=human.id,
            persona=persona,
            context=context,
            extracted=not state.get("extract_facts", True),
        )
        writes[human.id or ""] = (
            asyncio.ensure_future(asyncio.to_thread(deps.memory.add_episodes, user_id, [episode])),
            episode,
        )
        # an episode still in the verbatim window is already in the prompt: don't repeat it
        found = choose(
            [
                f
                for f in found
                if not (f.memory.kind == MemoryKind.EPISODE and set(f.memory.source_message_ids) & visible)
            ],
            deps.memory_top_k,
        )
        lines = recalled_lines(found, datetime.now(UTC), state.get("lang", "ru"))
        return {
            "recalled": [asdict(r) for r in lines],
            "unstored": unstored,
            "lore": _lore(persona, messages),
        }

    def _lore(persona_id: str, messages: list[AnyMessage]) -> list[dict[str, str]]:
        """The persona's lorebook entries whose keys the recent messages name (see personas.lorebook)."""
        book = deps.personas.get(persona_id).lorebook()
        if not book:
            return []
        said = [_text(m) for m in messages if isinstance(m, HumanMessage | AIMessage) and _text(m)]
        hits = lore.match(book, said, token_budget=deps.lore_token_budget)
        return [{"name": h.entry.name, "why": h.why, "content": h.entry.content} for h in hits]

    async def _store_again(user_id: str, unstored: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Messages an earlier turn could not store (memory was away): store them now (idempotent by
        message id); what still fails stays for the next turn."""
        if not unstored:
            return []
        try:
            await asyncio.to_thread(deps.memory.add_episodes, user_id, [EpisodeIn(**u) for u in unstored])
        except Exception as exc:
            log.warning("agent: memory still unavailable (%s)", type(exc).__name__)
            return unstored
        return []

    async def photo(state: ChatState) -> dict[str, Any]:
        """Decide whether a photo goes with the reply (keyword pre-filter and the selector, no LLM);
        the chosen photo travels in the state to the caller, like the reply."""
        if deps.photos is None or state.get("canned"):
            return {"photo": None}
        human = _last_human(state["messages"])
        card = deps.personas.get(state["persona_id"])
        sent = list(state.get("photos_sent", []))
        humans_since = _user_turns_since_photo(state["messages"], sent)
        try:
            chosen, canned = await choose_photo(
                deps.photos,
                card,
                _text(human),
                state.get("lang", "ru"),
                pro=bool(state.get("flags", {}).get("pro")),
                sent=sent,
                user_turns_since_photo=humans_since,
            )
        except Exception as exc:  # a photo is a garnish: the reply goes out without one
            log.warning("agent: choosing a photo failed (%s)", type(exc).__name__)
            return {"photo": None}
        if canned:
            return {"canned": canned, "photo": None}
        if chosen is None:
            return {"photo": None}
        return {
            "photo": asdict(chosen),
            "photos_sent": record(sent, chosen, _user_turns(state["messages"])),
        }

    async def respond(state: ChatState) -> dict[str, Any]:
        """The reply; the turn ends only once the user's message is stored, or, if memory is away,
        kept in the thread's state (encrypted) to be stored by a later turn."""
        pending = writes.pop(_last_human(state["messages"]).id or "", None)
        try:
            result = await _respond(state)
        finally:
            stored = pending is None or await _settled(pending[0])
        if not stored:
            assert pending is not None
            result = {**result, "unstored": [*state.get("unstored", []), _episode_dict(pending[1])]}
        return result

    async def _respond(state: ChatState) -> dict[str, Any]:
        if state.get("canned"):
            return {"messages": [AIMessage(content=state["canned"])], "read": ""}
        card = deps.personas.get(state["persona_id"])
        lang = state.get("lang", "ru")
        flags = UserFlags(**state.get("flags", {}))
        unlocked = adult_unlocked(
            flags,
            card.adult_content and card.module is Module.PARTNER,
            bool(state.get("minor_suspected") or state.get("minor_now")),
        )
        recalled = state.get("recalled", [])
        lines = [Recalled(**r) for r in recalled]
        # the user's remembered messages as their earlier turns, the facts in a note after this one
        earlier = earlier_turns(lines, lang)
        facts = [r for r in lines if not r.said]
        message = _text(_last_human(state["messages"]))
        found = await _read(lines, message, lang) if _tool_rounds(state["messages"]) == 0 else ""
        memories = memory_block(facts, lang, message, remembered=bool(earlier), found=found)
        recent = recent_window(state["messages"], deps.history_token_budget)
        prompt = build_prompt(
            card,
            lang,
            adult_unlocked=unlocked,
            now=datetime.now(UTC),
            summary=state.get("summary", ""),
            memories=memories,
            recent=recent,
            photo_note=PHOTO_NOTE[lang].format(caption=state["photo"]["caption"])
            if state.get("photo")
            else "",
            safety_notes=state.get("safety_notes", []),
            lore=[entry["content"] for entry in state.get("lore", [])],
            earlier=earlier,
        )
        # not in a turn the safety rules speak in: its first words are theirs to shape, not memory's
        leads = deps.lead_replies and not state.get("safety_event") and not state.get("safety_notes")
        if lead := (reply_lead(found, message, lang) if leads else ""):
            prompt.append(AIMessage(content=lead))  # the model writes on from the answer's first words
        llm: Any = deps.llm_for("chat")
        tool_rounds = _tool_rounds(state["messages"])
        if deps.use_tools and tool_rounds < 2:
            llm = llm.bind_tools(tools)
        for attempt in range(deps.retries + 1):
            try:
                answer = await llm.ainvoke(prompt, stop=stop_sequences(card))
                break
            except (LLMTimeoutError, TimeoutError) as exc:
                log.warning("agent: the chat model timed out (%s)", type(exc).__name__)
                return {"failed": True}  # tokens may have gone out already: no retry
            except Exception as exc:  # a backend that is down, crashed, or returned garbage
                if "Timeout" in type(exc).__name__:  # e.g. openai's APITimeoutError on a stalled stream
                    log.warning("agent: the chat model timed out (%s)", type(exc).__name__)
                    return {"failed": True}
                log.warning("agent: chat model failed (%s), attempt %d", type(exc).__name__, attempt + 1)
                if attempt == deps.retries:
                    return {"failed": True}
                await asyncio.sleep(deps.backoff_s * 2**attempt)
        if getattr(answer, "tool_calls", None):
            return {"messages": [answer]}
        reply = clean_reply(_text(answer), card.name)
        if not reply:
            log.warning("agent: the chat model returned an empty reply")
            return {"failed": True}
        if state.get("addendum"):  # the direct question and help lines, never left to the model
            reply = f"{reply}\n\n{state['addendum']}"
        return {"messages": [AIMessage(content=reply, id=answer.id)], "read": found}

    async def _read(lines: list[Recalled], message: str, lang: Language) -> str:
        """What the recalled lines say for ``message`` (a question about the user's life or a
        request that needs it), by the ``reader`` role; "" when off, not needed, or not usable.
        A failure costs only the hint: the reply goes on without it."""
        if not (deps.read_memories and lines and needs_memory(message)):
            return ""
        try:
            answer = await deps.llm_for("reader").ainvoke(reader_messages(lines, message, lang))
        except Exception as exc:
            log.warning("agent: reading the memories failed (%s)", type(exc).__name__)
            return ""
        return accepted(_text(answer), lines, lambda word: lemma(word.lower())[0])

    def after_respond(state: ChatState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls and not state.get("failed"):
            return "tools"
        return END

    graph = StateGraph(ChatState)
    graph.add_node("prepare", prepare)
    graph.add_node("recall", recall)
    graph.add_node("photo", photo)
    graph.add_node("respond", respond)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "recall")
    graph.add_edge("recall", "photo")
    graph.add_edge("photo", "respond")
    graph.add_conditional_edges("respond", after_respond, ["tools", END])
    graph.add_edge("tools", "respond")
    return graph.compile(checkpointer=checkpointer)


async def _settled(write: asyncio.Future[Any]) -> bool:
    """Wait for a memory write; False (logged) if it failed."""
    try:
        await write
        return True
    except Exception as exc:
        log.warning("agent: the message could not be stored yet (%s); a later turn will", type(exc).__name__)
        return False


def _episode_dict(episode: EpisodeIn) -> dict[str, Any]:
    return {
        "text": episode.text,
        "at": episode.at or datetime.now(UTC),  # when it was said, not when memory came back
        "message_id": episode.message_id,
        "persona": episode.persona,
        "context": list(episode.context),
        "extracted": episode.extracted,
    }


class ProfileState(TypedDict, total=False):
    profile: dict[str, Any]  # minor (kept for good), risk (the last crisis sign): see agent.safety.policy


def build_profile_graph(checkpointer: BaseCheckpointSaver | None = None) -> Any:
    """A one-node graph whose threads hold a user's profile, one per user: checkpointed and
    encrypted like the conversations, shared by every persona's thread. Written with
    ``aupdate_state(..., as_node="keep")``, read with ``aget_state``."""
    graph = StateGraph(ProfileState)
    graph.add_node("keep", lambda state: {})
    graph.add_edge(START, "keep")
    graph.add_edge("keep", END)
    return graph.compile(checkpointer=checkpointer)


def _tool_rounds(messages: list[AnyMessage]) -> int:
    """Tool results since the user's last message: a cap so a looping model still answers."""
    rounds = 0
    for m in reversed(messages):
        if isinstance(m, HumanMessage):
            break
        if isinstance(m, ToolMessage):
            rounds += 1
    return rounds


def _user_turns(messages: list[AnyMessage]) -> int:
    return sum(1 for m in messages if isinstance(m, HumanMessage))


def _user_turns_since_photo(messages: list[AnyMessage], sent: list[dict[str, Any]]) -> int:
    """User messages since the last photo was sent (all of them if none was)."""
    turns = _user_turns(messages)
    return turns - int(sent[-1].get("turn", 0)) if sent else turns
