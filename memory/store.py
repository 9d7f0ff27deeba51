"""The memory engine's front door: add, change, search, export and wipe one user's memories.

Every method takes a ``user_id`` and touches only that user's collection, key and index; there
is no method that reads across users. Texts are cleaned here, encrypted in :mod:`memory.records`,
embedded once, and mirrored into a per-user in-memory :class:`UserIndex` for search.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from memory.chroma_store import ChromaStore
from memory.crypto import Keyring, UserCipher
from memory.embeddings import EmbedderMismatchError, VectorEmbeddings
from memory.lexical import asks_about_now, asks_when, lemmas
from memory.models import Category, HistoryEntry, Memory, MemoryKind, ScoredMemory, utcnow
from memory.records import from_metadata, to_metadata
from memory.retrieval import LinkRule, RankingWeights, Times, rank, restated
from memory.slots import SLOT_PHRASES, centroids, newest_of_slot, slot_of
from memory.text import clean_text, for_embedding
from memory.user_index import UserIndex
from memory.when import resolve, valid_at

log = logging.getLogger(__name__)

# How many previous turns lend their words to an episode's lexical tokens: a reply ("yes, in May!")
# is found by the question it answers. Only words: blending the previous turn into the vector
# too gained nothing on LoCoMo (R@10 0.795 vs 0.793) and cost an embedding per message.
CONTEXT_TURNS = 2
# Last-accessed times are kept to this precision: writing them is a Chroma write per memory, and
# the memories a conversation keeps coming back to would otherwise be rewritten on every turn.
ACCESS_GRANULARITY_S = 3600.0


@dataclass
class EpisodeIn:
    """A user's message to remember, with the turns just before it (they make it findable)."""

    text: str
    at: datetime | None = None
    message_id: str | None = None
    persona: str | None = None
    context: Sequence[str] = ()
    importance: int = 5
    extracted: bool = False


@dataclass
class FactIn:
    """A fact to store as it is."""

    text: str
    category: Category | str = Category.OTHER
    importance: int = 5
    persona: str | None = None
    source_message_ids: Sequence[str] = ()
    valid_at: datetime | None = None  # when it holds from; None: the date words in it, else now


@dataclass
class WipeReport:
    rows_deleted: int
    collection_deleted: bool
    key_shredded: bool
    removed: list[str] = field(default_factory=list)


def _as_utc(dt: datetime | None) -> datetime:
    if dt is None:
        return utcnow()
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class MemoryStore:
    def __init__(
        self,
        chroma: ChromaStore,
        keyring: Keyring,
        embeddings: VectorEmbeddings,
        weights: RankingWeights | None = None,
        cache_check_s: float = 1.0,
        context_turns: int = CONTEXT_TURNS,
        cached_users: int = 200,
        links: LinkRule | None = LinkRule(),  # noqa: B008 (frozen)
    ) -> None:
        self.links = links
        self.chroma = chroma
        self.keyring = keyring
        self.embeddings = embeddings
        self.space = getattr(embeddings, "space", "?")
        self.weights = weights or RankingWeights()
        self._slots: np.ndarray | None = None
        self.cache_check_s = cache_check_s
        self.context_turns = context_turns
        self.cached_users = cached_users
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()  # least recently used first
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._cache_guard = threading.Lock()
        self._touched: dict[str, dict[str, float]] = {}

    # -- plumbing -------------------------------------------------------------------------------

    def _lock(self, user_key: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(user_key, threading.RLock())

    def _cipher(self, user_id: str, create: bool) -> UserCipher | None:
        return self.keyring.cipher(user_id, create=create)

    def _index(self, user_key: str) -> UserIndex:
        """The user's index, (re)loaded from Chroma when missing or when another worker wrote.

        Callers hold the user's lock; the cache itself is shared by all users, so it has its own.
        """
        with self._cache_guard:
            idx = self._indexes.get(user_key)
            if idx is not None:
                self._indexes.move_to_end(user_key)
        if idx is not None and time.monotonic() - idx.checked_at < self.cache_check_s:
            return idx
        rev = self.chroma.revision(user_key)
        if idx is not None and rev == idx.revision:
            idx.checked_at = time.monotonic()
            return idx
        idx = UserIndex(self.chroma.load(user_key), rev or 0)
        with self._cache_guard:
            self._indexes[user_key] = idx
            evicted = []
            while len(self._indexes) > self.cached_users:
                evicted.append(self._indexes.popitem(last=False))
        for key, old in evicted:  # last-access times are best effort, but not dropped
            self._flush_touches(key, old)
        return idx

    def check_space(self, idx: UserIndex) -> UserIndex:
        """``idx`` if its vectors are in this embedder's space (or it has none yet); else refuse:
        another model's vectors would be compared with this one's, and ranked by noise."""
        if idx.space is not None and idx.space != self.space:
            raise EmbedderMismatchError(
                f"a user's memory holds vectors of the embedder space {idx.space!r}, but the configured "
                f"embedder ({getattr(self.embeddings, 'name', '?')}) is in {self.space!r}: run `dora memory "
                "reembed` to embed the stored memories again with it, or set DORA_EMBEDDINGS_MODEL back"
            )
        return idx

    def replace_vectors(
        self, user_key: str, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict[str, Any]]
    ) -> None:
        """Write new vectors for stored rows (as they are otherwise) and mark the collection with this
        embedder's space once the last part is written (:mod:`memory.reembed`). Every worker reloads
        the user on its next read: the revision moves."""
        step = 1000
        with self._lock(user_key):
            for start in range(0, len(ids), step):
                end = start + step
                last = end >= len(ids)
                self.chroma.upsert(
                    user_key, ids[start:end], vectors[start:end], metas[start:end], mark_space=last
                )
            with self._cache_guard:
                self._indexes.pop(user_key, None)

    def _tokens(self, cipher: UserCipher, text: str, context: Sequence[str] = ()) -> tuple[list[str], int]:
        """Hashed lemmas for the lexical index (own words first), and how many are the message's own."""
        own = [cipher.hash_token(t) for t in lemmas(text)]
        ctx = (
            [cipher.hash_token(t) for c in context[-self.context_turns :] for t in lemmas(c)]
            if self.context_turns
            else []
        )
        # the message's own words count twice: the context helps find it, not outweigh it
        return (own + own + ctx if ctx else own), len(own)

    def _write(
        self,
        user_id: str,
        cipher: UserCipher,
        memories: list[Memory],
        vectors: np.ndarray,
        tokens: list[tuple[list[str], int]],
    ) -> None:
        user_key = cipher.user_key
        metas = [to_metadata(m, cipher, t, n) for m, (t, n) in zip(memories, tokens, strict=True)]
        ids = [m.id for m in memories]
        with self._lock(user_key):
            self._flush_touches(user_key)
            idx = self.check_space(self._index(user_key))
            rev = self.chroma.upsert(user_key, ids, vectors, metas)
            idx.upsert(ids, vectors, metas)
            idx.revision, idx.space = rev, self.space

    def _rewrite(
        self,
        cipher: UserCipher,
        memories: Sequence[Memory],
        vectors: np.ndarray | None = None,
        tokens: Sequence[tuple[list[str], int]] | None = None,
    ) -> None:
        """Store changed memories. Without new vectors and tokens, only their metadata is written."""
        user_key = cipher.user_key
        ids = [m.id for m in memories]
        with self._lock(user_key):
            idx = self._index(user_key)
            positions = [idx.position(mid) for mid in ids]
            if None in positions:
                raise KeyError("memory not found for this user")
            if tokens is None:
                metas = []
                for memory, pos in zip(memories, positions, strict=True):
                    old = idx.metas[pos]  # type: ignore[index]
                    meta = to_metadata(memory, cipher, [], 0)
                    meta["lex"], meta["subj"] = old.get("lex", ""), old.get("subj", "")
                    metas.append(meta)
            else:
                metas = [to_metadata(m, cipher, *t) for m, t in zip(memories, tokens, strict=True)]
            if vectors is None:
                rev = self.chroma.update_metadata(user_key, ids, metas)
            else:
                self.check_space(idx)
                rev = self.chroma.upsert(user_key, ids, vectors, metas)
            idx.upsert(ids, vectors, metas)
            idx.revision = rev or idx.revision

    def _fact(self, user_id: str, fact_id: str) -> tuple[UserCipher, Memory]:
        cipher = self._cipher(user_id, create=False)
        fact = self.get(user_id, fact_id)
        if cipher is None or fact is None or fact.kind is not MemoryKind.FACT:
            raise KeyError(f"fact {fact_id} not found for this user")
        return cipher, fact

    # -- writing --------------------------------------------------------------------------------

    def add_episodes(self, user_id: str, items: Sequence[EpisodeIn]) -> list[Memory]:
        """Store the user's messages as episodes (one batch: one embedding call, one Chroma write).
        An episode's id follows from its ``message_id``, so a message stored again (a turn retried
        after a crash) is skipped, not doubled; the result holds only what was newly stored."""
        if not items:
            return []
        cipher = self._cipher(user_id, create=True)
        assert cipher is not None
        ids = [_episode_id(cipher.user_key, it.message_id) for it in items]
        with self._lock(cipher.user_key):
            idx = self._index(cipher.user_key)
            seen = {i for i in ids if i is not None and idx.position(i) is not None}
        fresh = []
        for memory_id, it in zip(ids, items, strict=True):
            if memory_id is None or memory_id not in seen:
                fresh.append((memory_id or uuid.uuid4().hex, it))
                if memory_id is not None:
                    seen.add(memory_id)
        if not fresh:
            return []
        items = [it for _, it in fresh]
        texts = [clean_text(it.text) for it in items]
        contexts = [[c for c in (_safe_clean(x) for x in it.context) if c] for it in items]
        # An episode is a chat message, and what finds it is another message or a question: a
        # symmetric match, for which e5 wants the query role on both sides. It also means the
        # turn that searched with this message a moment ago already embedded it (RecentQueries).
        vectors = self.embeddings.query_vectors([for_embedding(t) for t in texts])
        memories = []
        for (memory_id, it), text in zip(fresh, texts, strict=True):
            at = _as_utc(it.at)
            memories.append(
                Memory(
                    id=memory_id,
                    user_id=user_id,
                    kind=MemoryKind.EPISODE,
                    text=text,
                    category=Category.OTHER,
                    importance=it.importance,
                    persona=it.persona,
                    created_at=at,
                    updated_at=at,
                    last_accessed_at=at,
                    valid_at=valid_at(text, at),
                    source_message_ids=[it.message_id] if it.message_id else [],
                    extracted=it.extracted,
                )
            )
        tokens = [self._tokens(cipher, t, c) for t, c in zip(texts, contexts, strict=True)]
        links = self._restated(cipher.user_key, memories, vectors, [set(t[:n]) for t, n in tokens])
        for memory, older in zip(memories, links, strict=True):
            memory.supersedes = older
        self._write(user_id, cipher, memories, vectors, tokens)
        return memories

    def _restated(
        self, user_key: str, memories: list[Memory], vectors: np.ndarray, own: list[set[str]]
    ) -> list[list[str]]:
        """For each new episode, the ids of the older episodes it restates (:func:`restated`):
        stored with it, so a question about now finds the newest word on a subject."""
        if self.links is None:
            return [[] for _ in memories]
        with self._lock(user_key):
            idx = self.check_space(self._index(user_key)).arrays()
            n_old = len(idx)
            old_sims = idx.vectors @ vectors.T if n_old else np.zeros((0, len(memories)), dtype=np.float32)
            pool = ~idx.is_fact & idx.valid & (idx.created <= memories[0].created_at.timestamp())
            ids = list(idx.ids)
            old_words = idx.subjects.of_row
            df = {t: len(idx.subjects.rows_of.get(t, ())) for words in own for t in words}
        for words in own:
            for t in words:
                df[t] += 1
        batch_sims = vectors @ vectors.T
        out = []
        for i, memory in enumerate(memories):
            earlier = [j for j in range(i) if memories[j].created_at <= memory.created_at]
            sims = np.concatenate([old_sims[:, i], batch_sims[earlier, i]])
            allowed = np.concatenate([pool, np.ones(len(earlier), dtype=bool)])
            rare = {t for t in own[i] if df[t] <= self.links.max_df}
            found = restated(
                sims,
                rare,
                lambda j, earlier=earlier: old_words[j] if j < n_old else own[earlier[j - n_old]],
                self.links,
                allowed,
            )
            out.append([ids[j] if j < n_old else memories[earlier[j - n_old]].id for j in found])
        return out

    def add_episode(self, user_id: str, text: str, **kwargs: Any) -> Memory:
        """One episode; a message stored before (same ``message_id``) gives the stored one back."""
        item = EpisodeIn(text=text, **kwargs)
        added = self.add_episodes(user_id, [item])
        if added:
            return added[0]
        cipher = self._cipher(user_id, create=False)
        existing = cipher and self.get(user_id, _episode_id(cipher.user_key, item.message_id) or "")
        assert existing is not None
        return existing

    def add_facts(self, user_id: str, items: Sequence[FactIn]) -> list[Memory]:
        """Store facts as given (no reconciliation: that is :class:`memory.reconcile.Reconciler`'s job)."""
        if not items:
            return []
        cipher = self._cipher(user_id, create=True)
        assert cipher is not None
        texts = [clean_text(it.text) for it in items]
        now = utcnow()
        memories = [
            Memory(
                id=uuid.uuid4().hex,
                user_id=user_id,
                kind=MemoryKind.FACT,
                text=text,
                category=Category(it.category)
                if it.category in Category._value2member_map_
                else Category.OTHER,
                importance=max(1, min(10, int(it.importance))),
                persona=it.persona,
                created_at=now,
                updated_at=_as_utc(it.valid_at) if it.valid_at else now,
                last_accessed_at=now,
                valid_at=_as_utc(it.valid_at) if it.valid_at else valid_at(text, now),
                source_message_ids=list(it.source_message_ids),
            )
            for it, text in zip(items, texts, strict=True)
        ]
        vectors = self.embeddings.passage_vectors([for_embedding(t) for t in texts])
        self._write(user_id, cipher, memories, vectors, [self._tokens(cipher, t) for t in texts])
        return memories

    def add_fact(self, user_id: str, text: str, **kwargs: Any) -> Memory:
        return self.add_facts(user_id, [FactIn(text=text, **kwargs)])[0]

    def update_fact(
        self,
        user_id: str,
        fact_id: str,
        new_text: str,
        importance: int | None = None,
        source_message_ids: Iterable[str] = (),
        at: datetime | None = None,
    ) -> Memory:
        """Rewrite a fact in place (same id); the old wording goes into its history."""
        cipher, fact = self._fact(user_id, fact_id)
        new_text = clean_text(new_text)
        when = _as_utc(at)
        if new_text != fact.text:
            fact.history.append(HistoryEntry(text=fact.text, changed_at=when, op="update"))
        fact.text = new_text
        fact.updated_at = when
        if importance is not None:
            fact.importance = max(1, min(10, int(importance)))
        fact.source_message_ids = list(dict.fromkeys([*fact.source_message_ids, *source_message_ids]))
        vectors = self.embeddings.passage_vectors([for_embedding(new_text)])
        self._rewrite(cipher, [fact], vectors, [self._tokens(cipher, new_text)])
        return fact

    def invalidate_fact(
        self,
        user_id: str,
        fact_id: str,
        superseded_by: str | None = None,
        at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> Memory:
        """Retire a fact that is no longer true; it stays (visible on request and in exports).

        ``at`` is when DORA retires it (``expired_at``); ``ended_at`` when it stopped being true
        (``invalid_at``): by default the superseding fact's ``valid_at``, else ``at``."""
        cipher, fact = self._fact(user_id, fact_id)
        fact.expired_at = _as_utc(at)
        newer = self.get(user_id, superseded_by) if superseded_by and ended_at is None else None
        fact.invalid_at = _as_utc(ended_at) if ended_at else newer.valid_at if newer else fact.expired_at
        fact.superseded_by = superseded_by
        fact.history.append(HistoryEntry(text=fact.text, changed_at=fact.expired_at, op="invalidate"))
        self._rewrite(cipher, [fact])
        return fact

    def mark_extracted(self, user_id: str, episode_ids: Sequence[str]) -> None:
        """Record that fact extraction has run over these episodes (so it is not retried)."""
        cipher = self._cipher(user_id, create=False)
        if cipher is None:
            return
        changed = []
        for mid in episode_ids:
            memory = self.get(user_id, mid)
            if memory is not None and not memory.extracted:
                memory.extracted = True
                changed.append(memory)
        if changed:
            self._rewrite(cipher, changed)  # one metadata write for the batch

    def delete(self, user_id: str, memory_id: str) -> bool:
        """Hard-delete one memory (the user pressed "forget this")."""
        user_key = self.keyring.user_key(user_id)
        with self._lock(user_key):
            idx = self._index(user_key)
            if idx.position(memory_id) is None:
                return False
            rev = self.chroma.delete_rows(user_key, [memory_id])
            idx.remove([memory_id])
            idx.revision = rev or idx.revision
            self._touched.get(user_key, {}).pop(memory_id, None)
            return True

    def rewrite_episode(self, user_id: str, memory_id: str, text: str) -> Memory:
        """Keep an episode under its id with new text (forgetting trimmed part of the message):
        embedded and tokenised again, so neither its vector nor its words still carry the old text."""
        cipher = self._cipher(user_id, create=False)
        episode = self.get(user_id, memory_id)
        if cipher is None or episode is None or episode.kind is not MemoryKind.EPISODE:
            raise KeyError(f"episode {memory_id} not found for this user")
        episode.text = clean_text(text)
        episode.history = []
        vectors = self.embeddings.query_vectors([for_embedding(episode.text)])
        self._rewrite(cipher, [episode], vectors, [self._tokens(cipher, episode.text)])
        return episode

    def compact(self, ids: Sequence[str] = ()) -> None:
        """Rewrite the embedded store's files so the old versions of memories ``ids`` (deleted or
        rewritten) leave no bytes behind (see :mod:`memory.chroma_purge`); a Chroma server keeps
        its own disk."""
        self.flush()
        self.chroma.compact(ids)

    # -- reading --------------------------------------------------------------------------------

    def episode_id(self, user_id: str, message_id: str | None) -> str | None:
        """The id the episode of ``message_id`` has (or will have) for this user, so a caller that
        refers to a message (a planned check-in) can name its memory without reading it back."""
        cipher = self._cipher(user_id, create=False)
        return None if cipher is None else _episode_id(cipher.user_key, message_id)

    def get(self, user_id: str, memory_id: str) -> Memory | None:
        cipher = self._cipher(user_id, create=False)
        if cipher is None:
            return None
        with self._lock(cipher.user_key):
            idx = self._index(cipher.user_key)
            pos = idx.position(memory_id)
            return None if pos is None else from_metadata(memory_id, idx.metas[pos], cipher, user_id)

    def list(
        self,
        user_id: str,
        kind: MemoryKind | None = None,
        include_invalid: bool = False,
        persona: str | None = None,
    ) -> list[Memory]:
        """The user's memories, oldest first."""
        cipher = self._cipher(user_id, create=False)
        if cipher is None:
            return []
        with self._lock(cipher.user_key):
            idx = self._index(cipher.user_key)
            out = []
            for mid, meta in zip(idx.ids, idx.metas, strict=True):
                if kind is not None and meta.get("kind") != kind.value:
                    continue
                if not include_invalid and not meta.get("valid", True):
                    continue
                if persona is not None and meta.get("persona") not in ("", persona):
                    continue
                out.append(from_metadata(mid, meta, cipher, user_id))
        return sorted(out, key=lambda m: m.created_at)

    def pending_episodes(self, user_id: str) -> list[Memory]:
        """Episodes that fact extraction has not processed yet (it failed, or never ran)."""
        return [m for m in self.list(user_id, kind=MemoryKind.EPISODE) if not m.extracted]

    def search(
        self,
        user_id: str,
        query: str,
        k: int = 10,
        kinds: Iterable[MemoryKind] | None = None,
        persona: str | None = None,
        include_invalid: bool = False,
        now: datetime | None = None,
        touch: bool = True,
    ) -> list[ScoredMemory]:
        """The user's ``k`` best memories for ``query`` (hybrid relevance, recency, importance)."""
        cipher = self._cipher(user_id, create=False)
        query = clean_text(query)
        if cipher is None:
            return []
        when = _as_utc(now)
        qvec = self.embeddings.query_vector(for_embedding(query))
        qtokens = [cipher.hash_token(t) for t in lemmas(query)]
        kinds = set(kinds) if kinds is not None else {MemoryKind.FACT, MemoryKind.EPISODE}
        about_now = asks_about_now(query)
        slots = self._slot_centroids() if about_now and self.weights.slot_newest else None
        with self._lock(cipher.user_key):
            idx = self.check_space(self._index(cipher.user_key)).arrays()
            if len(idx) == 0:
                return []
            eligible = np.ones(len(idx), dtype=bool)
            if MemoryKind.FACT not in kinds:
                eligible &= ~idx.is_fact
            if MemoryKind.EPISODE not in kinds:
                eligible &= idx.is_fact
            if not include_invalid:
                eligible &= idx.valid
            if persona is not None:
                eligible &= (idx.persona == "") | (idx.persona == persona)
            dense = idx.vectors @ qvec
            lexical = idx.lexical_scores(qtokens)
            ranked = rank(
                dense,
                lexical,
                eligible,
                idx.updated,
                idx.importance,
                when.timestamp(),
                self.weights,
                k,
                subjects=idx.subjects,
                about_now=about_now,
                times=Times(idx.valid_at, idx.created, _window(query, when), asks_when(query)),
                slot_rows=None if slots is None else self._slot_rows(qvec, slots, idx, eligible),
            )
            results = [
                ScoredMemory(
                    memory=from_metadata(idx.ids[r.row], idx.metas[r.row], cipher, user_id),
                    score=r.parts.total,
                    parts=r.parts,
                )
                for r in ranked
            ]
            if touch:
                stamp = utcnow().timestamp()
                touched = self._touched.setdefault(cipher.user_key, {})
                for r, res in zip(ranked, results, strict=True):
                    # kept to the hour: a memory that comes up every turn is not rewritten every turn
                    if stamp - float(idx.metas[r.row].get("accessed") or 0.0) >= ACCESS_GRANULARITY_S:
                        touched[res.memory.id] = stamp
        return results

    def _slot_centroids(self) -> np.ndarray:
        """The life slots' centroids (:mod:`memory.slots`), embedded once per store."""
        if self._slots is None:
            phrases = [p for group in SLOT_PHRASES.values() for p in group]
            vectors = self.embeddings.query_vectors([for_embedding(p) for p in phrases])
            self._slots = centroids(vectors, [len(g) for g in SLOT_PHRASES.values()])
        return self._slots

    def _slot_rows(
        self, qvec: np.ndarray, cents: np.ndarray, idx: UserIndex, eligible: np.ndarray
    ) -> np.ndarray | None:
        """For a question about now on one life slot, that slot's newest memories; else None."""
        w = self.weights
        slot = int(slot_of(qvec[None, :], cents, w.slot_margin)[0])
        if slot < 0:
            return None
        return newest_of_slot(idx.slots(cents, w.slot_margin), slot, idx.updated, eligible, w.slot_top)

    def restated_messages(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        """The ids of older messages that these messages' episodes restate (write-time links): a
        fact drawn from one of them may be what the new message changed."""
        cipher = self._cipher(user_id, create=False)
        if cipher is None:
            return set()
        out: set[str] = set()
        for mid in message_ids:
            episode = self.get(user_id, _episode_id(cipher.user_key, mid) or "")
            for older_id in episode.supersedes if episode is not None else ():
                older = self.get(user_id, older_id)
                if older is not None:
                    out.update(older.source_message_ids)
        return out

    def similar_facts(
        self, user_id: str, text: str, k: int = 5, persona: str | None = None
    ) -> list[tuple[Memory, float]]:
        """Valid facts closest to ``text`` by cosine (for reconciliation), best first."""
        cipher = self._cipher(user_id, create=False)
        if cipher is None:
            return []
        vec = self.embeddings.passage_vectors([for_embedding(clean_text(text))])[0]
        with self._lock(cipher.user_key):
            idx = self.check_space(self._index(cipher.user_key)).arrays()
            mask = idx.is_fact & idx.valid
            if persona is not None:
                mask &= (idx.persona == "") | (idx.persona == persona)
            rows = np.flatnonzero(mask)
            if rows.size == 0:
                return []
            sims = idx.vectors[rows] @ vec
            best = rows[np.argsort(-sims)[:k]]
            return [
                (from_metadata(idx.ids[r], idx.metas[r], cipher, user_id), float(idx.vectors[r] @ vec))
                for r in best
            ]

    def count(self, user_id: str) -> dict[str, int]:
        cipher = self._cipher(user_id, create=False)
        if cipher is None:
            return {"facts": 0, "episodes": 0, "invalidated": 0}
        with self._lock(cipher.user_key):
            idx = self._index(cipher.user_key).arrays()
            return {
                "facts": int((idx.is_fact & idx.valid).sum()),
                "episodes": int((~idx.is_fact).sum()),
                "invalidated": int((idx.is_fact & ~idx.valid).sum()),
            }

    def connect(self) -> bool:
        """Connect to Chroma and load the embedder's engine ahead of the first search (a process
        that serves users calls this at start); False when Chroma is away (searches retry).

        Refuses (:class:`EmbedderMismatchError`) when users' memories hold vectors of another
        embedder's space: better a clear stop at start than every search ranking by noise."""
        self.embeddings.query_vector("warm-up")
        if not self.chroma.connect():
            return False
        foreign = {s: n for s, n in self.chroma.spaces().items() if s != self.space}
        if foreign:
            held = ", ".join(f"{n} in {s!r}" for s, n in sorted(foreign.items()))
            raise EmbedderMismatchError(
                f"users' memories hold vectors of another embedder ({held}), but the configured embedder "
                f"({getattr(self.embeddings, 'name', '?')}) is in {self.space!r}: run `dora memory reembed` "
                "to embed them again with it, or set DORA_EMBEDDINGS_MODEL back"
            )
        return True

    def warm(self, user_id: str) -> None:
        """Rebuild the user's index now, off the reply path, so the next search pays nothing."""
        cipher = self._cipher(user_id, create=False)
        if cipher is not None:
            with self._lock(cipher.user_key):
                self._index(cipher.user_key).warm()

    # -- access times ---------------------------------------------------------------------------

    def _flush_touches(self, user_key: str, idx: UserIndex | None = None) -> None:
        touched = self._touched.pop(user_key, None)
        if not touched:
            return
        idx = idx or self._indexes.get(user_key)
        if idx is None:
            return
        ids, metas = [], []
        for mid, stamp in touched.items():
            pos = idx.position(mid)
            if pos is not None:
                meta = dict(idx.metas[pos])
                meta["accessed"] = stamp
                idx.metas[pos] = meta
                ids.append(mid)
                metas.append(meta)
        if ids:
            self.chroma.update_metadata(user_key, ids, metas, bump=False)

    def flush(self) -> None:
        """Write buffered last-accessed times (searches buffer them to stay off the hot path)."""
        for user_key in list(self._touched):
            with self._lock(user_key):
                self._flush_touches(user_key)

    # -- data rights ----------------------------------------------------------------------------

    def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything the engine holds about the user, decrypted, as a JSON-ready dict."""
        memories = self.list(user_id, include_invalid=True)
        return {
            "user_id": user_id,
            "exported_at": utcnow().isoformat(),
            "facts": [m.model_dump(mode="json") for m in memories if m.kind is MemoryKind.FACT],
            "episodes": [m.model_dump(mode="json") for m in memories if m.kind is MemoryKind.EPISODE],
        }

    def wipe_user(self, user_id: str) -> WipeReport:
        """Hard-delete the user from Chroma, the in-memory indexes and the keyring. Idempotent."""
        user_key = self.keyring.user_key(user_id)
        with self._lock(user_key):
            rows = self.chroma.delete_user(user_key)
            with self._cache_guard:
                self._indexes.pop(user_key, None)
            self._touched.pop(user_key, None)
            shredded = self.keyring.shred(user_id)
        self.embeddings.forget()  # recent query vectors (all users': a digest does not say whose)
        removed = []
        if rows is not None:
            removed.append(f"chroma collection ({rows} memories)")
        if shredded:
            removed.append("user data key")
        return WipeReport(rows or 0, rows is not None, shredded, removed)


def _episode_id(user_key: str, message_id: str | None) -> str | None:
    """The id of the episode for a message: the same message of the same user, the same id."""
    if not message_id:
        return None
    return uuid.uuid5(uuid.NAMESPACE_URL, f"dora:episode:{user_key}:{message_id}").hex


def _window(query: str, now: datetime) -> tuple[float, float] | None:
    """The time a question names («что я делала в феврале», "last week"), resolved at ``now``."""
    span = resolve(query, now)
    return None if span is None else (span.start.timestamp(), span.end.timestamp())


def _safe_clean(text: str) -> str:
    try:
        return clean_text(text)
    except ValueError:
        return ""
