"""The memory data model, first: what a remembered thing is, when it held, and where it came from.

Two times per memory, kept apart as graphiti's edges keep them (``valid_at``, ``invalid_at``,
``expired_at``): when the thing was true in the user's life, and when DORA learned or retired it.

- ``valid_at``: when it became (or becomes) true. «в мае переезжаю», said in March, holds from
  May: the message's own date words are resolved against its time (:mod:`memory.when`); without
  any, the message time.
- ``invalid_at``: when it stopped being true (the newer fact's ``valid_at``), or None.
- ``created_at``: when DORA learned it; ``expired_at``: when DORA retired it (reconciliation
  found it contradicted), or None. Retired memories stay, visible on request and in exports.

Nothing is silently overwritten: an UPDATE keeps the id and pushes the old wording into
``history``. An episode that restates older ones on the same subject lists them in
``supersedes``: for a question about now, the newest statement on a subject comes first.
Records written before the two times existed (``valid_from``, ``invalidated_at``) load as they
were meant: ``valid_from`` is ``valid_at``, and ``invalidated_at`` was both times at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


class MemoryKind(StrEnum):
    FACT = "fact"  # an extracted statement about the user or the relationship
    EPISODE = "episode"  # one of the user's own messages, verbatim, timestamped


class Category(StrEnum):
    """Coarse topics; the extractor picks one, retrieval and /memory group by it."""

    PERSONAL = "personal"  # name, age, where they live, what they look like
    FAMILY = "family"
    RELATIONSHIPS = "relationships"  # friends, partner, colleagues
    PETS = "pets"
    WORK = "work"  # job, study, career
    HEALTH = "health"
    HOBBIES = "hobbies"
    PREFERENCES = "preferences"  # likes, dislikes, tastes
    PLANS = "plans"  # goals, upcoming events
    EVENTS = "events"  # things that happened
    FEELINGS = "feelings"  # moods, fears, worries
    RELATIONSHIP_WITH_PERSONA = "relationship_with_persona"
    OTHER = "other"


class HistoryEntry(BaseModel):
    """One past wording of a fact, kept when an UPDATE rewrote it."""

    text: str
    changed_at: datetime
    op: str = "update"


class Memory(BaseModel):
    """A memory as the rest of DORA sees it: decrypted, typed, with provenance."""

    id: str
    user_id: str
    kind: MemoryKind
    text: str
    category: Category = Category.OTHER
    importance: int = Field(5, ge=1, le=10)
    persona: str | None = None  # None: shared across the user's personas
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_accessed_at: datetime = Field(default_factory=utcnow)
    valid_at: datetime = Field(default_factory=utcnow)  # when it became (becomes) true
    invalid_at: datetime | None = None  # when it stopped being true
    expired_at: datetime | None = None  # when DORA retired it
    superseded_by: str | None = None  # id of the fact that invalidated this one
    supersedes: list[str] = Field(default_factory=list)  # episodes: older ones this one restates
    source_message_ids: list[str] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    extracted: bool = True  # episodes: has fact extraction run over it yet?

    @model_validator(mode="before")
    @classmethod
    def _older_names(cls, data: Any) -> Any:
        """Exports and callers from before the two times: ``valid_from``, ``invalidated_at``."""
        if isinstance(data, dict) and ("valid_from" in data or "invalidated_at" in data):
            data = dict(data)
            if (old := data.pop("valid_from", None)) is not None:
                data.setdefault("valid_at", old)
            if (old := data.pop("invalidated_at", None)) is not None:
                data.setdefault("invalid_at", old)
                data.setdefault("expired_at", old)
        return data

    @property
    def is_valid(self) -> bool:
        """Not retired: DORA has not found it contradicted (it may still have ended, see ``invalid_at``)."""
        return self.expired_at is None

    def holds_at(self, moment: datetime) -> bool:
        """Was (is) it true at ``moment``, as far as DORA knows?"""
        return self.valid_at <= moment and (self.invalid_at is None or moment < self.invalid_at)


class ScoreParts(BaseModel):
    """Why a memory ranked where it did (for `dora memory search --explain` and the notebooks)."""

    dense: float
    lexical: float
    relevance: float
    recency: float
    importance: float
    total: float


class ScoredMemory(BaseModel):
    memory: Memory
    score: float
    parts: ScoreParts
