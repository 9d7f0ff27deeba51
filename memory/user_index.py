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


class UserIndex:
    def __init__(self, rows: Rows, revision: int) -> None:
        self.revision = revision
        self.checked_at = time.monotonic()
        self.ids: list[str] = []
        self.metas: list[dict[str, Any]] = []
        self._vectors: list[np.ndarray] = []
        self._pos: dict[str, int] = {}
        self._arrays_dirty = True
        self._lexical = LexicalIndex()
        self._lexical_dirty = True
        self.upsert(rows.ids, rows.vectors, rows.metadatas)

    def __len__(self) -> int:
        return len(self.ids)

    def upsert(self, ids: list[str], vectors: np.ndarray | None, metas: list[dict[str, Any]]) -> None:
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
        n = len(self.ids)
        self.vectors = np.vstack(self._vectors) if n else np.zeros((0, 1), dtype=np.float32)
        self.is_fact = np.array([m.get("kind") == "fact" for m in self.metas], dtype=bool)
        self.valid = np.array([bool(m.get("valid", True)) for m in self.metas], dtype=bool)
        self.persona = np.array([m.get("persona", "") for m in self.metas], dtype=object)
        self.updated = np.array([float(m.get("updated", 0.0)) for m in self.metas], dtype=np.float64)
        self.importance = np.array([float(m.get("importance", 5)) for m in self.metas], dtype=np.float64)
        self.created = np.array([float(m.get("created", 0.0)) for m in self.metas], dtype=np.float64)
        self.valid_at = np.array([valid_at_of(m) for m in self.metas], dtype=np.float64)
        of_row = [subject_of(m) for m in self.metas]
        rows_of: dict[str, list[int]] = {}
        for row, subject in enumerate(of_row):
            for token in subject:
                rows_of.setdefault(token, []).append(row)
        newer_of: dict[int, list[int]] = {}
        for row, meta in enumerate(self.metas):
            for old in supersedes_of(meta):
                pos = self._pos.get(old)
                if pos is not None:
                    newer_of.setdefault(pos, []).append(row)
        self.subjects = Subjects(of_row, rows_of, newer_of)
        self._arrays_dirty = False

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
