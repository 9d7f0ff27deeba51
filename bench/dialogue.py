"""``dora eval dialogue``: does the reply use what DORA remembers?

Retrieval figures (``dora eval memory|locomo``) say whether the right memory is found; a user judges
the reply. Each scenario is a fresh user who tells the persona some things, turn by turn, through
the real :class:`agent.companion.Companion` on the configured backend; background memory work
(episodes, fact extraction) is let finish; then the conversation is taken out of reach (the
persona's thread is deleted, as a new thread would start, or another persona of the same user
asks), so only long-term memory can answer the ``ask``. The reply passes when it contains any of
``expect_any`` and none of ``expect_none`` (for a changed fact: the old value), compared by lemma
(«Бублика» counts for «Бублик»).

A scenario is run ``repeat`` times with the backend's own sampling, each time as a new user: one
sample hides flakiness, and a 1.5B model is flaky. Everything happens in a throwaway data dir.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.safety.text import normalize, words
from bench.common import read_list


class ScenarioError(ValueError):
    """The file is not a scenario set; the message says what is wrong."""


@dataclass(frozen=True)
class Scenario:
    id: str
    lang: str
    tell: tuple[str, ...]
    ask: str
    expect_any: tuple[str, ...]
    expect_none: tuple[str, ...] = ()
    persona: str = "dora"
    ask_persona: str | None = None  # another persona of the same user asks (facts are shared)


@dataclass
class Outcome:
    scenario: Scenario
    reply: str
    passed: bool
    reply_s: float
    found: list[str] = field(default_factory=list)
    contradicted: list[str] = field(default_factory=list)
    recalled: list[str] = field(default_factory=list)  # the memory lines the ask's prompt had
    read: str = ""  # what the reader picked out of them for the ask ("" if nothing)


def load_scenarios(path: Path) -> list[Scenario]:
    items = read_list(path, "scenarios", '{"id", "tell", "ask", "expect_any"}', ScenarioError)
    out, seen = [], set()
    for i, s in enumerate(items):
        where = f"{path}: scenario {i}"
        if not isinstance(s, dict):
            raise ScenarioError(f"{where} is not an object")
        sid = str(s.get("id") or f"#{i}")
        if sid in seen:
            raise ScenarioError(f"{where}: id {sid!r} is used twice")
        seen.add(sid)
        tell, ask, expect = s.get("tell"), s.get("ask"), s.get("expect_any")
        if not isinstance(tell, list) or not tell or not all(isinstance(t, str) and t.strip() for t in tell):
            raise ScenarioError(f"{where} ({sid}): 'tell' must be a non-empty list of messages")
        if not isinstance(ask, str) or not ask.strip():
            raise ScenarioError(f"{where} ({sid}): 'ask' must be a message")
        if not isinstance(expect, list) or not expect or not all(isinstance(e, str) and e for e in expect):
            raise ScenarioError(f"{where} ({sid}): 'expect_any' must be a non-empty list of words")
        lang = s.get("lang", "ru")
        if lang not in ("ru", "en"):
            raise ScenarioError(f"{where} ({sid}): lang must be 'ru' or 'en', not {lang!r}")
        out.append(
            Scenario(
                id=sid,
                lang=lang,
                tell=tuple(tell),
                ask=ask,
                expect_any=tuple(expect),
                expect_none=tuple(s.get("expect_none") or ()),
                persona=s.get("persona") or "dora",
                ask_persona=s.get("ask_persona"),
            )
        )
    return out


def _lemma_sequences(text: str) -> list[frozenset[str]]:
    """Every plausible lemma of each word, in order (a form matches a word when they share one)."""
    return [w.lemmas | {w.form, w.lemma} for w in words(normalize(text))]


def mentions(reply: str, phrase: str) -> bool:
    """Whether ``reply`` says ``phrase``: its words in order, each by any plausible lemma, case and
    ё/е aside; a phrase of no words (a number written oddly) falls back to a substring."""
    want = _lemma_sequences(phrase)
    if not want:
        return phrase.lower() in reply.lower()
    have = _lemma_sequences(reply)
    for start in range(len(have) - len(want) + 1):
        if all(have[start + i] & want[i] for i in range(len(want))):
            return True
    return False


def judge(scenario: Scenario, reply: str) -> tuple[bool, list[str], list[str]]:
    found = [e for e in scenario.expect_any if mentions(reply, e)]
    contradicted = [e for e in scenario.expect_none if mentions(reply, e)]
    return bool(found) and not contradicted, found, contradicted


async def _reply(
    companion: Any, user: str, persona: str, text: str, *, extract: bool = True
) -> tuple[str, list[str], str]:
    reply, recalled, read = "", [], ""
    async for event in companion.turn(user, persona, text, extract_facts=extract):
        if event.kind == "reply":
            reply, read = event.text, event.read
            recalled = [f"{r.line} ‹{r.why.split(':')[0]}›" for r in event.recalled or []]
    return reply, recalled, read


async def tell(companion: Any, scenario: Scenario, user: str) -> None:
    """The telling, turn by turn, and the memory work it starts, finished."""
    for message in scenario.tell:
        await _reply(companion, user, scenario.persona, message)
    await companion.drain()


async def ask(companion: Any, scenario: Scenario, user: str) -> Outcome:
    """The question, in a thread that does not hold the telling: only long-term memory can answer."""
    asker = scenario.ask_persona or scenario.persona
    # a new thread: the telling (or an earlier ask) is no longer in the recent turns
    await companion.checkpointer.adelete_thread(companion.thread_id(user, asker))
    start = time.perf_counter()
    # the question is stored like any message, but nothing is learned from it: nothing after it reads
    # it, and its extraction would take the CPU from the next reply (and slow the run's exit)
    reply, recalled, read = await _reply(companion, user, asker, scenario.ask, extract=False)
    elapsed = time.perf_counter() - start
    passed, found, contradicted = judge(scenario, reply)
    return Outcome(scenario, reply, passed, elapsed, found, contradicted, recalled, read)


async def run_scenario(companion: Any, scenario: Scenario, user: str) -> Outcome:
    """Tell, let memory work finish, take the conversation out of reach, ask."""
    await tell(companion, scenario, user)
    return await ask(companion, scenario, user)


async def run_all(
    companion: Any,
    scenarios: list[Scenario],
    repeat: int = 1,
    progress: Callable[[Outcome], None] | None = None,
    tell_once: bool = False,
    told: frozenset[str] = frozenset(),
) -> list[Outcome]:
    """Each scenario ``repeat`` times, each time a new user. With ``tell_once``, one user per
    scenario is told once and asked ``repeat`` times (a new thread each time): the reply's sampling
    is measured, the extraction's is not, at a fraction of the time (for tuning a prompt); scenarios
    in ``told`` were told in an earlier run whose store this companion opened, and are only asked."""
    outcomes = []
    if tell_once:
        for s in scenarios:
            user = told_user(s)
            if s.id not in told:
                await tell(companion, s, user)
            for _ in range(repeat):
                outcomes.append(outcome := await ask(companion, s, user))
                if progress:
                    progress(outcome)
        return outcomes
    for r in range(repeat):
        for s in scenarios:
            outcome = await run_scenario(companion, s, user=f"eval-dialogue-{s.id}-{r}")
            outcomes.append(outcome)
            if progress:
                progress(outcome)
    return outcomes


def told_user(scenario: Scenario) -> str:
    """The one user of a scenario told once (``tell_once``)."""
    return f"eval-dialogue-{scenario.id}"


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    """``hit_rate``, ``n``, ``by_lang``, ``mean_reply_s``, ``failures`` (the ``--json`` keys), and
    ``contradictions``: replies that said a value the user had since changed; ``read``: asks for which
    the reader picked something out of the recalled memories."""

    def rate(items: list[Outcome]) -> float | None:
        return round(sum(o.passed for o in items) / len(items), 4) if items else None

    langs = sorted({o.scenario.lang for o in outcomes})
    return {
        "hit_rate": rate(outcomes),
        "n": len(outcomes),
        "by_lang": {
            lang: {"hit_rate": rate(items), "n": len(items)}
            for lang in langs
            if (items := [o for o in outcomes if o.scenario.lang == lang])
        },
        "mean_reply_s": round(statistics.fmean(o.reply_s for o in outcomes), 2) if outcomes else None,
        "contradictions": sum(bool(o.contradicted) for o in outcomes),
        "read": sum(bool(o.read) for o in outcomes),
        "failures": [
            {"id": o.scenario.id, "reply": o.reply, "recalled": o.recalled, "read": o.read}
            for o in outcomes
            if not o.passed
        ],
    }
