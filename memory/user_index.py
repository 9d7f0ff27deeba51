"""One user's search index in memory: vectors, filters and BM25, mirrored from Chroma.

Chroma is the source of truth. Searching a user's few thousand memories exactly in numpy takes a
couple of milliseconds and gives every row both a dense and a lexical score, which fusion needs;
so each worker keeps a copy per active user, rebuilt from Chroma when the collection's revision
moved (another worker wrote) and patched in place on its own writes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from memory.chroma_store import Rows
from memory.lexical import LexicalIndex
from memory.records import subject_of, supersedes_of, tokens_of, valid_at_of
from memory.retrieval import Subjects
from memory.slots import slot_of


class UserIndex:
    def __init__(self, rows: Rows, revision: int) -> None:
        self.revision = revision
        self.space = rows.space  # the collection's vector space (None: no collection yet)
        self.checked_at = time.monotonic()
        self.ids: list[str] = []
        self.metas: list[dict[str, Any]] = []
        self._vectors: list[np.ndarray] = []
        self._pos: dict[str, int] = {}
        self._arrays_dirty = True
        self._lexical = LexicalIndex()
        self._lexical_dirty = True
        self._slots: tuple[tuple[int, float], np.ndarray] | None = None
        self.upsert(rows.ids, rows.vectors, rows.metadatas)

    def __len__(self) -> int:
        return len(self.ids)

    def upsert(self, ids: list[str], vectors: np.ndarray | None, metas: list[dict[str, Any]]) -> None:
        first_new = len(self.ids)
        only_new = all(mid not in self._pos for mid in ids)
        for i, (mid, meta) in enumerate(zip(ids, metas, strict=True)):
            pos = self._pos.get(mid)
            vec = None if vectors is None else np.asarray(vectors[i], dtype=np.float32)
            if pos is None:
                if vec is None:
                    raise ValueError(f"new memory {mid} needs a vector")
                self._pos[mid] = len(self.ids)
                self.ids.append(mid)
                self.metas.append(meta)
                self._vectors.append(vec)
            else:
                self.metas[pos] = meta
                if vec is not None:
                    self._vectors[pos] = vec
        if only_new and not self._arrays_dirty and first_new > 0:
            self._append_arrays(first_new)  # a message added: extend the arrays, don't rebuild them
        else:
            self._arrays_dirty = True
        self._lexical_dirty = True

    def remove(self, ids: list[str]) -> None:
        drop = {self._pos[m] for m in ids if m in self._pos}
        if not drop:
            return
        keep = [i for i in range(len(self.ids)) if i not in drop]
        self.ids = [self.ids[i] for i in keep]
        self.metas = [self.metas[i] for i in keep]
        self._vectors = [self._vectors[i] for i in keep]
        self._pos = {m: i for i, m in enumerate(self.ids)}
        self._arrays_dirty = True
        self._lexical_dirty = True

    def position(self, memory_id: str) -> int | None:
        return self._pos.get(memory_id)

    def _refresh_arrays(self) -> None:
        if not self._arrays_dirty:
            return
        self.vectors, self.is_fact, self.valid, self.persona, self.updated, self.importance = (
            np.zeros((0, 1), dtype=np.float32),
            *(np.zeros(0, dtype=t) for t in (bool, bool, object, np.float64, np.float64)),
        )
        self.created, self.valid_at = np.zeros(0), np.zeros(0)
        self.subjects = Subjects([], {}, {})
        self._append_arrays(0)
        self._arrays_dirty = False

    def _append_arrays(self, start: int) -> None:
        """Bring the numpy views and subjects up to date with rows ``start`` on (all rows before are)."""
        metas = self.metas[start:]
        self._slots = None
        new_vectors = np.vstack(self._vectors[start:]) if metas else None
        if new_vectors is not None:
            self.vectors = new_vectors if start == 0 else np.vstack([self.vectors, new_vectors])
        parts = {
            "is_fact": (bool, [m.get("kind") == "fact" for m in metas]),
            "valid": (bool, [bool(m.get("valid", True)) for m in metas]),
            "persona": (object, [m.get("persona", "") for m in metas]),
            "updated": (np.float64, [float(m.get("updated", 0.0)) for m in metas]),
            "importance": (np.float64, [float(m.get("importance", 5)) for m in metas]),
            "created": (np.float64, [float(m.get("created", 0.0)) for m in metas]),
            "valid_at": (np.float64, [valid_at_of(m) for m in metas]),
        }
        for name, (dtype, values) in parts.items():
            setattr(self, name, np.concatenate([getattr(self, name), np.array(values, dtype=dtype)]))
        of_row, rows_of, newer_of = self.subjects.of_row, self.subjects.rows_of, self.subjects.newer_of
        for row, meta in enumerate(metas, start=start):
            subject = subject_of(meta)
            of_row.append(subject)
            for token in subject:
                rows_of.setdefault(token, []).append(row)
            for old in supersedes_of(meta):
                pos = self._pos.get(old)
                if pos is not None:
                    newer_of.setdefault(pos, []).append(row)

    def slots(self, centroids: np.ndarray, margin: float) -> np.ndarray:
        """Each row's life slot (:func:`memory.slots.slot_of`), kept until the rows change: it costs
        as much as the dense search itself, and the slots' centroids are fixed per store."""
        key = (id(centroids), margin)
        if self._slots is None or self._slots[0] != key:
            self._slots = (key, slot_of(self.vectors, centroids, margin))
        return self._slots[1]

    def arrays(self) -> UserIndex:
        """Make sure the numpy views (vectors, is_fact, valid, persona, updated, importance) are current."""
        self._refresh_arrays()
        return self

    def lexical_scores(self, query_tokens: list[str]) -> np.ndarray:
        if self._lexical_dirty:
            self._lexical.rebuild([tokens_of(m) for m in self.metas])
            self._lexical_dirty = False
        return self._lexical.scores(query_tokens, len(self.ids))

    def warm(self) -> None:
        """Do the rebuilds now (after a write, off the reply path) instead of at the next search."""
        self._refresh_arrays()
        self.lexical_scores([])
