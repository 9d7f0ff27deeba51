"""The companion as its callers see it (the terminal chat, the Telegram bot): a turn in,
a stream of events out, and the user's data rights (export, wipe).

After each reply it queues, per user and in order, fact extraction for the user's pending messages
and the rolling summary of the thread: the reply never waits for either, and a crash loses nothing
because pending messages are marked in the memory store and picked up on the user's next turn.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, RemoveMessage
from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.background import BackgroundQueue
from agent.checkpoint import vacuum
from agent.forget_request import ForgetRequest, parse_forget_request
from agent.graph import AgentDeps, build_graph, build_profile_graph, clean_reply
from agent.language import Language, detect_language
from agent.llm.structured import structured
from agent.memory_view import MemoryLine, memory_lines, quoted
from agent.photo_choice import PhotoOut
from agent.presence.checkins import Checkins, Due
from agent.presence.compose import SAFETY, checkin_prompt, fallback, grounded
from agent.prompts import (
    APOLOGY,
    EMPTY_NOTICE,
    FORGET_EVERYTHING,
    FORGET_MORE,
    FORGET_NOTHING,
    FORGET_PREVIEW_LINES,
    FORGET_QUESTION,
    TRIMMED_NOTICE,
    build_prompt,
    stop_sequences,
)
from agent.recall import Recalled
from agent.safety import SafetyClassifier, UserFlags
from agent.summary import recent_window, split_for_summary, summarize
from agent.thread_scrub import scrub_state
from memory import forgetting
from memory.crypto import Keyring, UserCipher
from memory.extraction import FactExtractor
from memory.models import Memory, MemoryKind
from memory.pipeline import MemoryWriter
from memory.reconcile import Reconciler
from memory.text import EmptyTextError, clean_text, for_embedding
from memory.when import warm_up as warm_up_dates
from personas.library import PersonaLibrary

log = logging.getLogger(__name__)

EventKind = Literal["token", "reply", "notice", "apology", "photo", "forget"]
# how long a "forget this?" question waits for its answer
FORGET_PLAN_TTL_S = 15 * 60


@dataclass
class TurnEvent:
    """``token``: a piece of the reply as it streams; ``reply``: the whole reply, with the memories
    it was given; ``photo``: a photo that goes with the reply (after it); ``notice``: something
    about the user's message (trimmed, empty); ``apology``: the backend failed, the message is kept
    and will be answered on the next turn; ``forget``: the message asked to forget something, and
    ``text`` shows what matches: the caller asks the user to confirm (``forget.plan_id``) and calls
    :meth:`Companion.forget`."""

    kind: EventKind
    text: str
    recalled: list[Recalled] = field(default_factory=list)
    lore: list[LoreFired] = field(default_factory=list)  # on ``reply``: lorebook entries in its prompt
    photo: PhotoOut | None = None
    safety: SafetyOutcome | None = None  # on ``reply``: what the safety rules saw in this turn
    forget: ForgetPreview | None = None  # on ``forget``
    read: str = ""  # on ``reply``: what the reader picked out of ``recalled`` for it ("" if nothing)


@dataclass(frozen=True)
class LoreFired:
    """A lorebook entry that was put into a reply's prompt: its name and why (the key, or constant)."""

    name: str
    why: str


@dataclass(frozen=True)
class ForgetPreview:
    """What a request to forget would remove, shown before it does. ``plan_id`` is None when there
    is nothing to confirm (nothing matched, or the user asked to forget everything: /forget)."""

    plan_id: str | None
    lines: list[MemoryLine]
    everything: bool = False
    lang: Language = "ru"  # the language the question was asked in (for the caller's answer)


def _says_nothing(_text: str) -> bool:
    return False


@dataclass(frozen=True)
class ForgetResult:
    """What a forget removed: memories deleted whole, episodes trimmed, threads rewritten. For
    callers that keep copies of the conversation themselves (the bot's training material):
    ``message_ids``, the user messages it touched (the ids turns were given), and ``says``, whether a
    text still says what was forgotten (the same test the threads were rewritten by)."""

    deleted: int
    trimmed: int
    threads: int
    message_ids: frozenset[str] = frozenset()
    says: Callable[[str], bool] = field(default=_says_nothing, compare=False, repr=False)


@dataclass(frozen=True)
class TrainingTurn:
    """What a reply answered, as a training example needs it: the thread's recent turns up to and
    including the user's message (the window the prompt gives the model), oldest first, as
    ``{"role": "user"|"assistant", "content", "id"}``, and the language the persona spoke."""

    lang: Language
    context: list[dict[str, str]]


@dataclass(frozen=True)
class SafetyOutcome:
    """What callers need of a turn's safety decision: a crisis sign to count (label and tier, never
    text) and whether the user is known to be a minor (the bot keeps that on the account)."""

    crisis: tuple[str, str] | None = None
    minor: bool = False


class Companion:
    def __init__(
        self,
        deps: AgentDeps,
        checkpointer: BaseCheckpointSaver,
        keyring: Keyring,
        *,
        message_max_chars: int = 4000,
        background: BackgroundQueue | None = None,
        checkins: Checkins | None = None,
    ) -> None:
        """``checkins``: where coming events are planned after each turn and check-ins are written
        (:mod:`agent.presence`); None: DORA never writes first."""
        self.deps = deps
        self.checkins = checkins
        self.checkpointer = checkpointer
        self.keyring = keyring
        self.message_max_chars = message_max_chars
        self.background = background or BackgroundQueue()
        self.graph = build_graph(deps, checkpointer)
        self.profiles = build_profile_graph(checkpointer)
        self._writer: MemoryWriter | None = None
        self._writer_lock = threading.Lock()  # built once, by the warm-up or the first extraction
        self._resumed: set[str] = set()
        self._user_locks: dict[str, asyncio.Lock] = {}  # a turn and a forget of one user never overlap
        self._forget_plans: dict[str, tuple[str, str, float]] = {}  # plan id → (user, topic, expiry)

    # -- what callers may read (so none reaches into deps) ------------------------------------------

    @property
    def personas(self) -> PersonaLibrary:
        """The persona cards this companion can talk as."""
        return self.deps.personas

    def memory_counts(self, user_id: str) -> dict[str, int]:
        """How many memories of each kind the user has (for operators' listings; no text)."""
        return self.deps.memory.count(user_id)

    def cipher(self, user_id: str) -> UserCipher:
        """The user's cipher, for callers that keep the user's text at rest themselves (the bot's
        inbox): the same key as memory and conversations, so a wipe shreds that text too."""
        cipher = self.keyring.cipher(user_id)  # created on first use, so never None here
        assert cipher is not None
        return cipher

    async def drain(self) -> None:
        """Wait until background memory work (extraction, summaries) queued so far is done."""
        await self.background.drain()

    # -- threads -----------------------------------------------------------------------------------

    def thread_id(self, user_id: str, persona_id: str) -> str:
        """Opaque per user (a keyed hash, like the memory store's names), readable per persona."""
        return f"{self.keyring.user_key(user_id)}:{persona_id}"

    def _config(self, user_id: str, persona_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id(user_id, persona_id)}}

    # -- the user's profile: what outlives one persona's thread ------------------------------------

    def _profile_config(self, user_id: str) -> dict[str, Any]:
        """A thread of its own per user (no messages), checkpointed and encrypted like the others."""
        return {"configurable": {"thread_id": f"{self.keyring.user_key(user_id)}:~profile"}}

    async def profile(self, user_id: str) -> dict[str, Any]:
        """``minor`` (said once, kept for good, every persona) and ``risk`` (the last crisis sign)."""
        snapshot = await self.profiles.aget_state(self._profile_config(user_id))
        return dict(snapshot.values.get("profile") or {})

    async def _save_profile(self, user_id: str, profile: dict[str, Any]) -> None:
        await self.profiles.aupdate_state(self._profile_config(user_id), {"profile": profile}, as_node="keep")

    async def messages(self, user_id: str, persona_id: str) -> list[Any]:
        snapshot = await self.graph.aget_state(self._config(user_id, persona_id))
        return list(snapshot.values.get("messages", []))

    async def greet(self, user_id: str, persona_id: str, lang: str = "ru") -> str | None:
        """The persona's greeting for a new thread (stored as its first message); None if the thread
        already has a conversation."""
        card = self.deps.personas.get(persona_id)
        if await self.messages(user_id, persona_id):
            return None
        lines = card.opening_lines()
        # "random": a different opening for each new thread (SillyTavern's swipes, picked for the user)
        choice = random.randrange(len(lines)) if card.dora.greeting == "random" and lines else None
        text = card.greeting(lang, choice=choice)
        await self.graph.aupdate_state(
            self._config(user_id, persona_id),
            {
                "messages": [AIMessage(content=text)],
                "user_id": user_id,
                "persona_id": persona_id,
                "lang": lang,
            },
            as_node="respond",
        )
        return text

    async def warm_up(self) -> None:
        """Do now, in a worker thread, what the first turns would otherwise do lazily: connect the
        memory store, build the fact extractor (its structured-output path imports the OpenAI SDK)
        and load local models. Several seconds of CPU that, left to the first turn after a (re)start,
        hold the interpreter lock while users wait. Safe to run while turns are served."""
        await asyncio.to_thread(self._warm_up)

    def _warm_up(self) -> None:
        self.deps.memory.connect()
        warm_up_dates()  # every stored message has its dates read: dateparser's tables load now
        self._memory_writer()
        # a local model loads here, not in a background job mid-conversation: llama.cpp silences the
        # whole process's stdout and stderr while it loads, which swallowed a reply printed meanwhile
        for role in ("chat", "memory", "summary", *(("reader",) if self.deps.read_memories else ())):
            load = getattr(self.deps.llm_for(role), "load", None)
            if callable(load):
                load()

    async def prewarm(self, persona_id: str, lang: str = "ru") -> None:
        """Have the chat model evaluate the persona's stable prompt prefix now (llama.cpp keeps it,
        and its snapshot cache keeps one per persona), so the first reply doesn't pay for it: 11-13 s
        cold against about 0.4 s warm with the embedded model. A no-op unless ``deps.prewarm``."""
        if not self.deps.prewarm:
            return
        card = self.deps.personas.get(persona_id)
        prompt = build_prompt(
            card,
            lang,
            adult_unlocked=False,
            now=datetime.now(UTC),
            summary="",
            memories="",
            recent=[HumanMessage(content="…")],
        )
        try:
            await self.deps.llm_for("chat").ainvoke(prompt, max_tokens=1)
        except Exception as exc:  # warming is an optimisation: a failure here changes nothing
            log.info("agent: prewarm failed (%s)", type(exc).__name__)

    # -- a turn ------------------------------------------------------------------------------------

    async def turn(
        self,
        user_id: str,
        persona_id: str,
        text: str,
        flags: UserFlags | None = None,
        *,
        message_id: str | None = None,
        retried: bool = False,
        extract_facts: bool = True,
    ) -> AsyncIterator[TurnEvent]:
        """Answer one user message as the persona, streaming. ``message_id`` makes the turn
        idempotent: the message is stored once, and a ``retried`` turn (the same id, after a crash)
        whose answer is already in the thread gives that answer again instead of a second one. Only
        a retried turn reads the thread first: a fresh one has no answer to find. ``extract_facts``
        false (a voice note Whisper was unsure of) answers the message and keeps it as an episode,
        but never learns facts from it."""
        self.deps.personas.get(persona_id)  # an unknown persona fails here, before anything is stored
        if (
            retried
            and message_id is not None
            and (answered := await self._answer_to(user_id, persona_id, message_id))
        ):
            yield TurnEvent("reply", answered)
            return
        lang = detect_language(text or "")
        try:
            text = clean_text(text)
        except EmptyTextError:
            yield TurnEvent("notice", EMPTY_NOTICE[lang])
            return
        if len(text) > self.message_max_chars:
            text = text[: self.message_max_chars]
            yield TurnEvent("notice", TRIMMED_NOTICE[lang].format(n=self.message_max_chars))
        request = parse_forget_request(text)
        closely = request is not None and request.everything
        if request is not None and not await self._sounds_like_crisis(text, listen_closely=closely):
            # a command, not conversation: never stored (it names what is to be forgotten)
            yield await self._forget_question(user_id, request, lang)
            return
        async with self._user_lock(user_id):
            async for event in self._turn(user_id, persona_id, text, lang, flags, message_id, extract_facts):
                yield event

    async def _turn(
        self,
        user_id: str,
        persona_id: str,
        text: str,
        lang: Language,
        flags: UserFlags | None,
        message_id: str | None,
        extract_facts: bool,
        replacing: tuple[str, ...] = (),
    ) -> AsyncIterator[TurnEvent]:
        """``replacing``: ids of thread messages this turn's answer replaces (:meth:`regenerate`)."""
        if user_id not in self._resumed:  # messages a crash left unprocessed: settle them now
            self._resumed.add(user_id)
            self._queue_extraction(user_id)

        human = HumanMessage(content=text, id=message_id or str(uuid.uuid4()))
        inputs = {
            "messages": [*(RemoveMessage(id=i) for i in replacing), human],
            "user_id": user_id,
            "persona_id": persona_id,
            "flags": asdict(flags or UserFlags()),
            "extract_facts": extract_facts,
        }
        loaded: dict[str, Any] = {}

        async def load_profile() -> dict[str, Any]:
            """Read by the graph's first node while it embeds the message (see agent.graph)."""
            loaded.update(await self.profile(user_id))
            return dict(loaded)

        config = self._config(user_id, persona_id)
        config["configurable"]["profile_loader"] = load_profile
        final: dict[str, Any] = {}
        async with self.background.replying():
            # one checkpoint per turn, at its end (not one per node): a turn cut short is retried
            # whole from the bot's inbox, under the same message id (see the docstring)
            async for mode, payload in self.graph.astream(
                inputs, config, stream_mode=["messages", "values"], durability="exit"
            ):
                if mode == "values":
                    final = payload
                    continue
                chunk, meta = payload
                if (
                    meta.get("langgraph_node") == "respond"
                    and isinstance(chunk, AIMessageChunk)
                    and isinstance(chunk.content, str)
                    and chunk.content
                    and not chunk.tool_call_chunks
                ):
                    yield TurnEvent("token", chunk.content)
        lang = final.get("lang", lang)
        if (new_profile := final.get("profile")) is not None and new_profile != loaded:
            await self._save_profile(user_id, new_profile)
        event = final.get("safety_event")
        outcome = SafetyOutcome(
            crisis=(event[0], event[1]) if event else None, minor=bool((new_profile or {}).get("minor"))
        )
        recalled = [Recalled(**r) for r in final.get("recalled", [])]
        lore = [LoreFired(e["name"], e["why"]) for e in final.get("lore", [])]
        if final.get("failed"):
            yield TurnEvent("apology", APOLOGY.get(lang, APOLOGY["ru"]), recalled, lore, safety=outcome)
            return
        photo = PhotoOut(**final["photo"]) if final.get("photo") else None
        reply = final["messages"][-1]
        if final.get("addendum") and not final.get("canned"):  # streamed callers see it too
            yield TurnEvent("token", f"\n\n{final['addendum']}")
        yield TurnEvent(
            "reply", str(reply.content), recalled, lore, safety=outcome, read=final.get("read", "")
        )
        if photo is not None:
            yield TurnEvent("photo", photo.caption, photo=photo)
        if extract_facts and self.checkins is not None:  # a misheard voice note plans nothing
            self._queue_planning(user_id, persona_id, text, human.id)
        self._queue_extraction(user_id)
        self.background.submit(
            self.keyring.user_key(user_id), "summary", lambda: self._compact(user_id, persona_id)
        )

    async def training_turn(self, user_id: str, persona_id: str, message_id: str) -> TrainingTurn | None:
        """The turns a reply to ``message_id`` answered (see :class:`TrainingTurn`); None when the
        thread no longer has that message. Tool calls and their results are left out: an example
        teaches the conversation, not the plumbing."""
        values = (await self.graph.aget_state(self._config(user_id, persona_id))).values
        messages = list(values.get("messages", []))
        for i, message in enumerate(messages):
            if isinstance(message, HumanMessage) and message.id == message_id:
                window = recent_window(messages[: i + 1], self.deps.history_token_budget)
                context = [
                    {
                        "role": "user" if isinstance(m, HumanMessage) else "assistant",
                        "content": str(m.content),
                        "id": str(m.id or ""),
                    }
                    for m in window
                    if isinstance(m, HumanMessage | AIMessage)
                    and not getattr(m, "tool_calls", None)
                    and m.content
                ]
                return TrainingTurn(values.get("lang") or "ru", context)
        return None

    async def regenerate(
        self, user_id: str, persona_id: str, message_id: str, flags: UserFlags | None = None
    ) -> AsyncIterator[TurnEvent]:
        """Answer the user's message ``message_id`` again, as if the first reply had never been
        written: the reply (and any tool calls) go from the thread and the turn runs anew on the same
        message, with the same id (memory stores it once). Only the thread's newest message can be
        answered again: after it the conversation has moved on. Yields nothing when it is not."""
        async with self._user_lock(user_id):
            messages = await self.messages(user_id, persona_id)
            humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
            if not humans or messages[humans[-1]].id != message_id:
                return
            last = humans[-1]
            text = str(messages[last].content)
            # the old reply goes in the same checkpoint as the new one comes (the turn writes once, at
            # its end): a turn that fails midway leaves the thread as it was, never without the message
            gone = tuple(m.id for m in messages[last + 1 :] if m.id)
            # the message was taken in by its first turn (stored, facts queued, events planned): this
            # one only answers it, so nothing is planned twice
            lang = detect_language(text)
            async for event in self._turn(user_id, persona_id, text, lang, flags, message_id, False, gone):
                yield event

    async def _answer_to(self, user_id: str, persona_id: str, message_id: str) -> str | None:
        """The persona's reply to the user message ``message_id``, if the thread has one."""
        messages = await self.messages(user_id, persona_id)
        for i, message in enumerate(messages):
            if isinstance(message, HumanMessage) and message.id == message_id:
                after = [m for m in messages[i + 1 :] if isinstance(m, AIMessage) and not m.tool_calls]
                return str(after[0].content) if after and after[0].content else None
        return None

    # -- after the reply ---------------------------------------------------------------------------

    def _memory_writer(self) -> MemoryWriter:
        with self._writer_lock:
            if self._writer is None:
                llm = self.deps.llm_for("memory")
                self._writer = MemoryWriter(
                    self.deps.memory,
                    FactExtractor(llm, structure=structured),
                    Reconciler(self.deps.memory, llm, structure=structured),
                    share_facts=True,  # facts are about the user: every persona knows them
                )
            return self._writer

    def _queue_planning(self, user_id: str, persona_id: str, text: str, message_id: str | None) -> None:
        """A coming event in the message («в четверг собеседование») plans its follow-up; off the
        reply path, after the message's episode is stored (its id is what the check-in is about)."""
        checkins = self.checkins
        assert checkins is not None
        episode_id = self.deps.memory.episode_id(user_id, message_id)
        said_at = checkins.clock()

        async def plan() -> None:
            try:
                await checkins.plan_from_message(user_id, persona_id, text, episode_id, said_at)
            except Exception as exc:  # a check-in is a kindness: never worth a failed turn
                log.warning("presence: planning a follow-up failed (%s)", type(exc).__name__)

        self.background.submit(self.keyring.user_key(user_id), "checkin", plan)

    async def write_first(self, due: Due, now: datetime | None = None) -> str | None:
        """The check-in's words in the persona's voice, about its memory; None when the memory is
        gone. Nothing is kept: once the message is out, :meth:`said_first` puts it in the thread."""
        now = now or datetime.now(UTC)
        card = self.deps.personas.get(due.persona_id)
        values = (await self.graph.aget_state(self._config(due.user_id, due.persona_id))).values
        if due.reason == "safety":  # fixed words and the help lines, whatever the persona or model
            lang_of: Language = values.get("lang") or "ru"
            minor = bool((await self.profile(due.user_id)).get("minor"))
            lines = self.deps.helplines.text("self_harm", lang_of, minor=minor)
            return SAFETY.get(lang_of, SAFETY["ru"]).format(lines=lines)
        about = await asyncio.to_thread(self.deps.memory.get, due.user_id, due.about)
        if about is None:
            return None
        lang: Language = values.get("lang") or detect_language(about.text)
        about_text = about.text
        if about.kind == MemoryKind.FACT:  # «Пользователь любит плавать» put as «Ты любишь плавать»
            shown = [line for line in self.memory_lines(due.user_id, lang) if line.id == about.id]
            about_text = shown[0].text if shown else about.text
        prompt = checkin_prompt(
            card,
            lang,
            due.reason,
            about_text,
            about.valid_at if about.kind == MemoryKind.FACT else about.created_at,
            now,
            values.get("summary", ""),
            recent_window(values.get("messages", []), self.deps.history_token_budget),
        )
        text = ""
        try:
            answer = await self.deps.llm_for("chat").ainvoke(prompt, stop=stop_sequences(card))
            text = clean_reply(str(answer.content or ""), card.name)
        except Exception as exc:  # the fallback line below: a due check-in never becomes an error
            log.warning("presence: the chat model could not write a check-in (%s)", type(exc).__name__)
        if not grounded(text, about_text):
            text = fallback(card, lang, due.reason, about_text)
        return text

    async def said_first(self, due: Due, text: str) -> None:
        """The check-in that went out, as the persona's message in its thread: the user's answer is
        then read in context («нормально, взяли!» after «как прошло собеседование?»)."""
        config = self._config(due.user_id, due.persona_id)
        async with self._user_lock(due.user_id):
            values = (await self.graph.aget_state(config)).values
            update: dict[str, Any] = {"messages": [AIMessage(content=text)]}
            if not values:
                update |= {"user_id": due.user_id, "persona_id": due.persona_id}
            await self.graph.aupdate_state(config, update, as_node="respond")

    def _queue_extraction(self, user_id: str) -> None:
        async def extract() -> None:
            report = await asyncio.to_thread(self._memory_writer().process_pending, user_id)
            if report.failed:
                # the error's type only: its message may quote the model's answer, and so the user
                kind = (report.error or "").split(":", 1)[0]
                log.warning("memory: extraction left messages pending (%s)", kind)

        self.background.submit(self.keyring.user_key(user_id), "extraction", extract)

    async def _compact(self, user_id: str, persona_id: str) -> None:
        """Fold old turns into the rolling summary once the thread passes its token budget."""
        config = self._config(user_id, persona_id)
        values = (await self.graph.aget_state(config)).values
        older, _ = split_for_summary(values.get("messages", []), self.deps.history_token_budget)
        if not older:
            return
        card = self.deps.personas.get(persona_id)
        summary = await summarize(
            self.deps.llm_for("summary"),
            values.get("summary", ""),
            older,
            values.get("lang", "ru"),
            card.name,
        )
        await self.graph.aupdate_state(
            config,
            {"summary": summary, "messages": [RemoveMessage(id=m.id) for m in older if m.id]},
            as_node="respond",
        )

    # -- what the user can see and delete ---------------------------------------------------------

    def memory_lines(self, user_id: str, lang: Language = "ru", query: str | None = None) -> list[MemoryLine]:
        """What DORA knows about the user, as /memory shows it (:func:`agent.memory_view.memory_lines`)."""
        return memory_lines(self.deps.memory, user_id, lang, query)

    def facts(self, user_id: str) -> list[Memory]:
        """The facts DORA keeps about the user (valid ones, all personas), newest first."""
        facts = self.deps.memory.list(user_id, kind=MemoryKind.FACT)
        return sorted(facts, key=lambda m: m.updated_at, reverse=True)

    def _user_lock(self, user_id: str) -> asyncio.Lock:
        return self._user_locks.setdefault(user_id, asyncio.Lock())

    async def _sounds_like_crisis(self, text: str, listen_closely: bool = False) -> bool:
        """«забудь про меня, меня скоро не будет» is not a privacy request: the same safety rules the
        graph runs (the lexicon and, with a bank, the meaning model) hear every message that looks
        like one first, and a sign of crisis sends it to the conversation. ``listen_closely`` (a
        request to forget everything, which can be a farewell) lets the attention band count too;
        for a named topic it does not: «забудь про жирафа» lies near «забудь про меня» in meaning
        and would otherwise never be taken as the command it is."""
        safety = self.deps.safety or SafetyClassifier(None)
        vector = None
        if safety.bank is not None:
            try:
                embed = self.deps.memory.embeddings.query_vector
                vector = await asyncio.to_thread(embed, for_embedding(text))
            except Exception as exc:  # the lexicon still runs
                log.warning("agent: embedding for the safety rules failed (%s)", type(exc).__name__)
        assessment = await asyncio.to_thread(safety.assess, text, vector)  # it may embed once more
        return assessment.crisis is not None or (listen_closely and bool(assessment.concerns))

    async def _forget_question(self, user_id: str, request: ForgetRequest, lang: Language) -> TurnEvent:
        if request.everything:
            text = FORGET_EVERYTHING[lang]
            return TurnEvent("forget", text, forget=ForgetPreview(None, [], everything=True, lang=lang))
        lines = await asyncio.to_thread(self.memory_lines, user_id, lang, request.topic)
        if not lines:
            text = FORGET_NOTHING[lang].format(topic=quoted(request.topic, lang))
            return TurnEvent("forget", text, forget=ForgetPreview(None, [], lang=lang))
        now = time.monotonic()
        self._forget_plans = {k: v for k, v in self._forget_plans.items() if v[2] > now}
        plan_id = uuid.uuid4().hex[:16]
        self._forget_plans[plan_id] = (user_id, request.topic, now + FORGET_PLAN_TTL_S)
        shown = "\n".join(f"• {line.text}" for line in lines[:FORGET_PREVIEW_LINES])
        more = len(lines) - FORGET_PREVIEW_LINES
        if more > 0:
            shown += "\n" + FORGET_MORE[lang].format(n=more)
        text = FORGET_QUESTION[lang].format(n=len(lines), lines=shown)
        return TurnEvent("forget", text, forget=ForgetPreview(plan_id, lines, lang=lang))

    async def forget(self, user_id: str, plan_id: str) -> ForgetResult | None:
        """Carry out a confirmed request to forget; None when the plan is unknown here (expired, or
        asked on another worker or before a restart: the user asks again)."""
        plan = self._forget_plans.get(plan_id)
        if plan is None or plan[0] != user_id:  # another user's button press changes nothing
            return None
        del self._forget_plans[plan_id]
        if plan[2] < time.monotonic():
            return None
        return await self.forget_about(user_id, plan[1])

    async def cancel_forget(self, user_id: str, plan_id: str) -> None:
        plan = self._forget_plans.get(plan_id)
        if plan is not None and plan[0] == user_id:
            del self._forget_plans[plan_id]

    async def forget_about(self, user_id: str, topic: str) -> ForgetResult:
        """Forget everything the user said about ``topic``: the memories that state it, what was
        derived from them, and the same in every persona's thread (recent turns and summary).
        Raises ``ValueError`` on a blank topic."""
        memory = self.deps.memory
        clean_text(topic)  # a blank topic fails here (EmptyTextError), before any wait
        return await self._forget(user_id, lambda: forgetting.about(memory, user_id, topic))

    async def forget_memory(self, user_id: str, memory_id: str) -> ForgetResult:
        """Forget one memory the user picked (``/memory``'s button), with the messages that state it
        and what was derived from it, in memory and in the threads."""
        memory = self.deps.memory
        return await self._forget(user_id, lambda: forgetting.around(memory, user_id, [memory_id]))

    async def _forget(self, user_id: str, find: Any) -> ForgetResult:
        """Wait for the user's turn in progress and their queued memory work (extraction could
        otherwise add a fact from a message being forgotten; a summary being folded would write the
        old text back), then forget in memory and rewrite the threads. Turns that arrive meanwhile
        wait for it."""
        user_key = self.keyring.user_key(user_id)
        async with self._user_lock(user_id):
            await self.background.drain(user_key=user_key)
            what = await asyncio.to_thread(find)
            if what.empty:
                return ForgetResult(0, 0, 0)
            report = await asyncio.to_thread(forgetting.forget, self.deps.memory, user_id, what)
            deleted = set(report.deleted)
            dropped = frozenset(
                sid
                for m in what.memories
                if m.kind is MemoryKind.EPISODE and m.id in deleted
                for sid in m.source_message_ids
            )
            threads = await self._rewrite_threads(user_id, what, dropped)
            self.deps.memory.embeddings.forget()  # recent query vectors of the forgotten messages
        touched = frozenset(
            sid
            for m in what.memories
            if m.kind is MemoryKind.EPISODE and m.id in deleted | set(report.rewritten)
            for sid in m.source_message_ids
        )

        def says(text: str) -> bool:
            return any(what.mentions(s) for s in forgetting.split_sentences(text))

        return ForgetResult(
            len(report.deleted),
            len(report.rewritten),
            threads,
            message_ids=touched | what.message_ids,
            says=says,
        )

    async def _rewrite_threads(
        self, user_id: str, what: forgetting.Forgettable, dropped: frozenset[str]
    ) -> int:
        """Every persona's thread of the user, rewritten without the forgotten and without its
        checkpoint history (older checkpoints hold the old messages verbatim)."""
        rewritten = 0
        for persona_id in self.deps.personas.ids():
            config = self._config(user_id, persona_id)
            tid = config["configurable"]["thread_id"]
            if not await self.checkpointer.aget_tuple(config):
                continue
            values = (await self.graph.aget_state(config)).values
            clean = scrub_state(values, what, dropped)
            await self.checkpointer.adelete_thread(tid)
            kept = {k: v for k, v in clean.items() if v is not None}
            if kept.get("messages") or kept.get("summary") or kept.get("minor_suspected"):
                await self.graph.aupdate_state(config, kept, as_node="respond")
            rewritten += 1
        await vacuum(self.checkpointer)
        return rewritten

    # -- data rights -------------------------------------------------------------------------------

    async def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything DORA keeps about the user, decrypted: memory and every persona's conversation."""
        await self.background.drain(user_key=self.keyring.user_key(user_id))
        conversations = {}
        for card in self.deps.personas.list():
            values = (await self.graph.aget_state(self._config(user_id, card.id))).values
            if values.get("messages"):
                conversations[card.id] = {
                    "summary": values.get("summary", ""),
                    "messages": [
                        {"role": "user" if isinstance(m, HumanMessage) else "persona", "text": str(m.content)}
                        for m in values["messages"]
                        if isinstance(m, HumanMessage | AIMessage) and m.content
                    ],
                }
        return {
            "memory": self.deps.memory.export_user(user_id),
            "conversations": conversations,
            "profile": await self.profile(user_id),
            "presence": await self.checkins.export(user_id) if self.checkins is not None else {},
        }

    async def wipe_user(self, user_id: str) -> dict[str, int]:
        """Delete the user from every store: conversations (all personas), memory, keys."""
        await self.background.drain(user_key=self.keyring.user_key(user_id))
        threads = 0
        for persona_id in self.deps.personas.ids():
            tid = self.thread_id(user_id, persona_id)
            if await self.checkpointer.aget_tuple({"configurable": {"thread_id": tid}}):
                threads += 1
            await self.checkpointer.adelete_thread(tid)
        await self.checkpointer.adelete_thread(self._profile_config(user_id)["configurable"]["thread_id"])
        await vacuum(self.checkpointer)
        report = await asyncio.to_thread(self.deps.memory.wipe_user, user_id)
        if self.checkins is not None:
            await self.checkins.store.wipe(user_id)
        self._resumed.discard(user_id)
        return {"threads": threads, **asdict(report)}
