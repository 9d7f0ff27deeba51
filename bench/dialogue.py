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


async def _reply(companion: Any, user: str, persona: str, text: str) -> str:
    reply = ""
    async for event in companion.turn(user, persona, text):
        if event.kind == "reply":
            reply = event.text
    return reply


async def run_scenario(companion: Any, scenario: Scenario, user: str) -> Outcome:
    """Tell, let memory work finish, take the conversation out of reach, ask."""
    for message in scenario.tell:
        await _reply(companion, user, scenario.persona, message)
    await companion.drain()
    asker = scenario.ask_persona or scenario.persona
    if asker == scenario.persona:  # a new thread: the telling is no longer in the recent turns
        await companion.checkpointer.adelete_thread(companion.thread_id(user, scenario.persona))
    start = time.perf_counter()
    reply = await _reply(companion, user, asker, scenario.ask)
    elapsed = time.perf_counter() - start
    passed, found, contradicted = judge(scenario, reply)
    return Outcome(scenario, reply, passed, elapsed, found, contradicted)


async def run_all(
    companion: Any,
    scenarios: list[Scenario],
    repeat: int = 1,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    outcomes = []
    for r in range(repeat):
        for s in scenarios:
            outcome = await run_scenario(companion, s, user=f"eval-dialogue-{s.id}-{r}")
            outcomes.append(outcome)
            if progress:
                progress(outcome)
    return outcomes


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    """``hit_rate``, ``n``, ``by_lang``, ``mean_reply_s``, ``failures`` (the ``--json`` keys), and
    ``contradictions``: replies that said a value the user had since changed."""

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
        "failures": [{"id": o.scenario.id, "reply": o.reply} for o in outcomes if not o.passed],
    }
