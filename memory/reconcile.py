"""Reconciliation: each new candidate fact becomes ADD, UPDATE, INVALIDATE or NOOP against what is stored.

Duplicates are settled by similarity before any LLM call (the embedded 1.5B model never chose NOOP
in a probe), and the LLM only sees the few most similar stored facts, numbered 1..n: it answers
with a number, which is mapped back to an id, so it cannot invent or touch an id it was not shown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from memory.extraction import CandidateFact, Structurer, _default_structure
from memory.lexical import lemmas
from memory.models import Memory
from memory.store import MemoryStore

log = logging.getLogger(__name__)

RECONCILE_SYSTEM = """You keep a list of facts about a user up to date. You get the stored facts, numbered,
and one NEW fact. Answer with one action:
- ADD: the new fact is about something not in the list.
- UPDATE: the new fact refines or extends stored fact N and both stay true (give the merged text).
- INVALIDATE: the new fact contradicts stored fact N, which is no longer true
  (moved, changed job, broke up, pet died). A stored fact whose message the user's new message
  restates is the likeliest to have changed.
- NOOP: the new fact says the same as stored fact N.
For UPDATE, write the merged fact in the same language."""


class Action(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    INVALIDATE = "INVALIDATE"
    NOOP = "NOOP"


class ReconcileDecision(BaseModel):
    """What to do with the new fact."""

    action: Action
    target: int | None = Field(None, description="Number of the stored fact (for UPDATE, INVALIDATE, NOOP).")
    text: str | None = Field(None, description="For UPDATE: the merged fact.")


@dataclass
class Outcome:
    action: Action
    fact_id: str | None  # the fact added, updated or kept
    replaced_id: str | None = None  # for INVALIDATE: the fact that stopped being true
    by_llm: bool = True


def _dated(memory: Memory, restated: set[str] | None = None) -> str:
    """A stored fact as the LLM sees it: the text, when it held from, when DORA learned it, and
    whether the new fact's message restates the message it came from (a write-time link)."""
    link = (
        "; the user's new message restates the message it came from"
        if restated and set(memory.source_message_ids) & restated
        else ""
    )
    return (
        f"{memory.text} (true since {memory.valid_at.date().isoformat()}, "
        f"learned {memory.created_at.date().isoformat()}{link})"
    )


def _lemma_set(text: str) -> set[str]:
    return set(lemmas(text))


def is_near_duplicate(a: str, b: str, cosine: float, cosine_min: float, overlap_min: float) -> bool:
    """Same words (as lemmas) and nearly the same meaning: a duplicate whatever the LLM would say."""
    if a.strip().casefold() == b.strip().casefold():
        return True
    la, lb = _lemma_set(a), _lemma_set(b)
    if not la or not lb:
        return False
    overlap = len(la & lb) / len(la | lb)
    return cosine >= cosine_min and overlap >= overlap_min


class Reconciler:
    def __init__(
        self,
        store: MemoryStore,
        llm: BaseChatModel,
        neighbours: int = 5,
        duplicate_cosine: float = 0.95,
        duplicate_overlap: float = 0.75,
        structure: Structurer | None = None,
    ) -> None:
        self.store = store
        self._structured = (structure or _default_structure)(llm, ReconcileDecision)
        self.neighbours = neighbours
        self.duplicate_cosine = duplicate_cosine
        self.duplicate_overlap = duplicate_overlap

    def decide(
        self,
        candidate: CandidateFact,
        similar: Sequence[tuple[Memory, float]],
        restated: set[str] | None = None,
    ) -> tuple[ReconcileDecision, bool]:
        """The decision and whether the LLM made it (False: settled by similarity)."""
        if not similar:
            return ReconcileDecision(action=Action.ADD), False
        for n, (memory, cosine) in enumerate(similar, start=1):
            if is_near_duplicate(
                candidate.text, memory.text, cosine, self.duplicate_cosine, self.duplicate_overlap
            ):
                return ReconcileDecision(action=Action.NOOP, target=n), False
        listing = "\n".join(f"{n}. {_dated(m, restated)}" for n, (m, _) in enumerate(similar, start=1))
        decision = self._structured.invoke(
            [
                SystemMessage(RECONCILE_SYSTEM),
                HumanMessage(f"Stored facts:\n{listing}\n\nNEW fact: {candidate.text}"),
            ]
        )
        if not isinstance(decision, ReconcileDecision):
            decision = ReconcileDecision.model_validate(decision)
        return decision, True

    def apply(
        self,
        user_id: str,
        candidate: CandidateFact,
        source_ids: Sequence[str] = (),
        persona: str | None = None,
    ) -> Outcome:
        similar = self.store.similar_facts(user_id, candidate.text, k=self.neighbours, persona=persona)
        restated = self.store.restated_messages(user_id, source_ids) if similar else set()
        decision, by_llm = self.decide(candidate, similar, restated)
        target: Memory | None = None
        if decision.action is not Action.ADD:
            if decision.target is None or not 1 <= decision.target <= len(similar):
                log.info(
                    "reconcile: the LLM named no valid fact number (%s); adding instead", decision.target
                )
                decision = ReconcileDecision(action=Action.ADD)
            else:
                target = similar[decision.target - 1][0]

        if decision.action is Action.NOOP and target is not None:
            return Outcome(Action.NOOP, target.id, by_llm=by_llm)
        if decision.action is Action.UPDATE and target is not None:
            text = (decision.text or "").strip() or candidate.text
            updated = self.store.update_fact(
                user_id,
                target.id,
                text,
                importance=max(target.importance, candidate.importance),
                source_message_ids=source_ids,
            )
            return Outcome(Action.UPDATE, updated.id, by_llm=by_llm)
        added = self.store.add_fact(
            user_id,
            candidate.text,
            category=candidate.category,
            importance=candidate.importance,
            persona=persona,
            source_message_ids=source_ids,
        )
        if decision.action is Action.INVALIDATE and target is not None:
            self.store.invalidate_fact(user_id, target.id, superseded_by=added.id)
            return Outcome(Action.INVALIDATE, added.id, replaced_id=target.id, by_llm=by_llm)
        return Outcome(Action.ADD, added.id, by_llm=by_llm)
