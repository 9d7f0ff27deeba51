"""The memory data model, first: what a remembered thing is, when it held, and where it came from.

Temporal fields follow graphiti's edges: a fact is *valid from* some time and may be
*invalidated* later by another fact; nothing is silently overwritten. An UPDATE keeps the id and
pushes the old wording into ``history`` so the user's export shows what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


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
    valid_from: datetime = Field(default_factory=utcnow)
    invalidated_at: datetime | None = None
    superseded_by: str | None = None  # id of the fact that invalidated this one
    source_message_ids: list[str] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    extracted: bool = True  # episodes: has fact extraction run over it yet?

    @property
    def is_valid(self) -> bool:
        return self.invalidated_at is None


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
