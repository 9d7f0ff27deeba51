"""Memory ⇄ Chroma row: what is encrypted, what stays plain for filtering, and nothing else.

Plain (needed to filter and rank without a key): kind, persona scope, category, importance,
timestamps, validity, ids (including the ids of the episodes an episode supersedes). Encrypted: the
text and its history. Hashed: the lexical tokens.

Rows written before the two times (``valid_from``, ``invalidated``) still load: ``valid_from`` is
``valid_at``, and ``invalidated`` stood for both ``invalid_at`` and ``expired_at``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from memory.crypto import UserCipher
from memory.models import Category, HistoryEntry, Memory, MemoryKind


def _ts(dt: datetime | None) -> float:
    return 0.0 if dt is None else dt.timestamp()


def _dt(ts: float | int | None) -> datetime | None:
    return None if not ts else datetime.fromtimestamp(float(ts), UTC)


def to_metadata(memory: Memory, cipher: UserCipher, tokens: list[str], own_tokens: int = 0) -> dict[str, Any]:
    history = [h.model_dump(mode="json") for h in memory.history]
    return {
        "kind": memory.kind.value,
        "persona": memory.persona or "",
        "category": memory.category.value,
        "importance": int(memory.importance),
        "created": _ts(memory.created_at),
        "updated": _ts(memory.updated_at),
        "accessed": _ts(memory.last_accessed_at),
        "valid_at": _ts(memory.valid_at),
        "invalid_at": _ts(memory.invalid_at),
        "expired_at": _ts(memory.expired_at),
        "valid": memory.is_valid,
        "superseded_by": memory.superseded_by or "",
        "supersedes": " ".join(memory.supersedes),
        "src": json.dumps(memory.source_message_ids),
        "extracted": bool(memory.extracted),
        "enc": cipher.encrypt(memory.text, memory.id),
        "hist": cipher.encrypt(json.dumps(history, ensure_ascii=False), memory.id + "|hist")
        if history
        else "",
        "lex": " ".join(tokens),
        # the message's own words come first in "lex" (context words after): its subject
        "subj": " ".join(sorted(set(tokens[:own_tokens]))),
    }


def from_metadata(memory_id: str, meta: dict[str, Any], cipher: UserCipher, user_id: str) -> Memory:
    hist_blob = meta.get("hist") or ""
    history = json.loads(cipher.decrypt(hist_blob, memory_id + "|hist")) if hist_blob else []
    return Memory(
        id=memory_id,
        user_id=user_id,
        kind=MemoryKind(meta["kind"]),
        text=cipher.decrypt(meta["enc"], memory_id),
        category=Category(meta.get("category", "other")),
        importance=int(meta.get("importance", 5)),
        persona=meta.get("persona") or None,
        created_at=_dt(meta.get("created")) or datetime.now(UTC),
        updated_at=_dt(meta.get("updated")) or datetime.now(UTC),
        last_accessed_at=_dt(meta.get("accessed")) or datetime.now(UTC),
        valid_at=_dt(meta.get("valid_at") or meta.get("valid_from")) or datetime.now(UTC),
        invalid_at=_dt(meta.get("invalid_at") or meta.get("invalidated")),
        expired_at=_dt(meta.get("expired_at") or meta.get("invalidated")),
        superseded_by=meta.get("superseded_by") or None,
        supersedes=supersedes_of(meta),
        source_message_ids=json.loads(meta.get("src") or "[]"),
        history=[HistoryEntry(**h) for h in history],
        extracted=bool(meta.get("extracted", True)),
    )


def supersedes_of(meta: dict[str, Any]) -> list[str]:
    raw = meta.get("supersedes") or ""
    return raw.split() if raw else []


def valid_at_of(meta: dict[str, Any]) -> float:
    """When the row's memory holds from, as a timestamp (older rows: ``valid_from``, else created)."""
    return float(meta.get("valid_at") or meta.get("valid_from") or meta.get("created") or 0.0)


def subject_of(meta: dict[str, Any]) -> set[str]:
    subj = meta.get("subj") or ""
    return set(subj.split()) if subj else set()


def tokens_of(meta: dict[str, Any]) -> list[str]:
    lex = meta.get("lex") or ""
    return lex.split() if lex else []
