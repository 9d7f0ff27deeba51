"""Retrieval evaluation on probe sets: recall@k per kind, and cross-user leaks.

A probe set is ``{"users": {UID: {"sessions": [{"date": ISO, "turns": [[TURN_ID, TEXT], ...]}],
"probes": [{"id", "ask", "evidence": [TURN_ID, ...], "kind", "now"?}]}}}``. Every turn becomes an
episode of its user at its session's date (the turns just before it as context, as in a live chat);
each probe is asked of its own user at its ``now`` when it has one, else as of the day after that
user's last session. A hit at k is any evidence turn among the top k. Then every probe is asked of
every *other* user as well, and any result that is not that user's own is a leak.

:func:`run_modes` stores the set once and asks the probes with each ranking mode (dense alone,
lexical alone, the full ranking: :meth:`memory.retrieval.RankingWeights.only`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from memory.models import MemoryKind
from memory.store import CONTEXT_TURNS, EpisodeIn, FactIn, MemoryStore

KS = (1, 3, 5, 10)


@dataclass
class Probe:
    id: str
    ask: str
    evidence: list[str]
    kind: str
    user: str
    now: datetime | None = None


@dataclass
class EvalResult:
    probes: int = 0
    hits: dict[int, int] = field(default_factory=lambda: dict.fromkeys(KS, 0))
    by_kind: dict[str, dict[int, int]] = field(default_factory=dict)
    kind_counts: dict[str, int] = field(default_factory=dict)
    leaks: int = 0
    leak_probes: int = 0
    skipped: int = 0
    ingest_s: float = 0.0
    memories: int = 0
    search_ms: list[float] = field(default_factory=list)

    def score(
        self, probe: Probe, sources: Sequence[set[str]], by_kind: dict[str, dict[int, int]] | None = None
    ) -> int | None:
        """Count one asked probe: ``sources`` holds each result's turn ids, best first; a hit at k is
        any evidence turn among the first k. Returns the rank of the first hit (None: no hit)."""
        self.probes += 1
        self.kind_counts[probe.kind] = self.kind_counts.get(probe.kind, 0) + 1
        evidence = set(probe.evidence)
        kind_hits = (by_kind if by_kind is not None else self.by_kind).setdefault(
            probe.kind, dict.fromkeys(KS, 0)
        )
        first_hit = next((i for i, src in enumerate(sources) if evidence & src), None)
        for k in KS:
            if first_hit is not None and first_hit < k:
                self.hits[k] += 1
                kind_hits[k] += 1
        return first_hit

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"recall@{k}": round(self.hits[k] / max(self.probes, 1), 4) for k in KS}
        out["leaks"] = self.leaks
        out["by_kind"] = {
            kind: {
                "n": self.kind_counts[kind],
                **{f"recall@{k}": round(h[k] / max(self.kind_counts[kind], 1), 4) for k in KS},
            }
            for kind, h in sorted(self.by_kind.items())
        }
        out["probes"] = self.probes
        out["skipped"] = self.skipped
        out["memories"] = self.memories
        out["leak_probes"] = self.leak_probes
        out["ingest_per_s"] = round(self.memories / self.ingest_s, 1) if self.ingest_s else None
        if self.search_ms:
            ordered = sorted(self.search_ms)
            out["search_p50_ms"] = round(ordered[len(ordered) // 2], 2)
            out["search_p95_ms"] = round(ordered[int(len(ordered) * 0.95)], 2)
        return out


def parse_date(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def load_probes(dataset: dict[str, Any]) -> tuple[dict[str, list[Probe]], int]:
    """Probes per user, with evidence limited to that user's turns; returns (probes, skipped)."""
    probes: dict[str, list[Probe]] = {}
    skipped = 0
    for uid, user in dataset["users"].items():
        own = {str(t[0]) for s in user["sessions"] for t in s["turns"]}
        for p in user.get("probes", []):
            evidence = [str(e) for e in p.get("evidence", []) if str(e) in own]
            if not evidence or not str(p.get("ask", "")).strip():
                skipped += 1
                continue
            probes.setdefault(uid, []).append(
                Probe(
                    str(p.get("id", len(probes))),
                    p["ask"],
                    evidence,
                    str(p.get("kind", "all")),
                    uid,
                    parse_date(p["now"]) if p.get("now") else None,
                )
            )
    return probes, skipped


def session_episodes(user: dict[str, Any]) -> Iterator[list[EpisodeIn]]:
    """A user's turns as episodes, one list per session: each at its session's date plus its place
    (seconds), with the turns just before it as context, as in a live chat."""
    for session in user["sessions"]:
        start = parse_date(session["date"])
        texts = [str(t[1]) for t in session["turns"]]
        yield [
            EpisodeIn(
                text=text,
                at=start + timedelta(seconds=i),
                message_id=str(turn[0]),
                context=texts[max(0, i - CONTEXT_TURNS) : i],
                extracted=True,
            )
            for i, (turn, text) in enumerate(zip(session["turns"], texts, strict=True))
            if text.strip()
        ]


def ingest(store: MemoryStore, dataset: dict[str, Any], as_facts: dict[str, list[dict]] | None = None) -> int:
    """Store every turn (or, with ``as_facts``, every given fact) of every user; returns the count."""
    count = 0
    for uid, user in dataset["users"].items():
        if as_facts is not None:
            facts = [
                FactIn(f["text"], source_message_ids=f["evidence"], valid_at=parse_date(f["date"]))
                for f in as_facts.get(uid, [])
            ]
            for start in range(0, len(facts), 100):
                store.add_facts(uid, facts[start : start + 100])
            count += len(facts)
            continue
        for batch in session_episodes(user):
            store.add_episodes(uid, batch)
            count += len(batch)
    return count


def run_eval(
    store: MemoryStore,
    dataset: dict[str, Any],
    as_facts: dict[str, list[dict]] | None = None,
    check_leaks: bool = True,
    progress: Callable[[int], None] | None = None,
    already_stored: bool = False,
    search_kinds: list[MemoryKind] | None = None,
    mode: str = "full",
) -> EvalResult:
    """Store the set (unless ``already_stored``) and ask every probe with the ``mode`` ranking."""
    full_weights = store.weights
    store.weights = full_weights.only(mode)
    try:
        return _run_eval(store, dataset, as_facts, check_leaks, progress, already_stored, search_kinds)
    finally:
        store.weights = full_weights


def run_modes(
    store: MemoryStore,
    dataset: dict[str, Any],
    modes: Sequence[str],
    as_facts: dict[str, list[dict]] | None = None,
    check_leaks: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, EvalResult]:
    """Store the set once, then ask every probe with each ranking mode in turn."""
    results: dict[str, EvalResult] = {}
    for i, mode in enumerate(modes):
        results[mode] = run_eval(
            store, dataset, as_facts, check_leaks, progress, already_stored=i > 0, mode=mode
        )
    first = results[modes[0]]
    for result in results.values():
        result.memories, result.ingest_s = first.memories, first.ingest_s
    return results


def _run_eval(
    store: MemoryStore,
    dataset: dict[str, Any],
    as_facts: dict[str, list[dict]] | None,
    check_leaks: bool,
    progress: Callable[[int], None] | None,
    already_stored: bool,
    search_kinds: list[MemoryKind] | None,
) -> EvalResult:
    result = EvalResult()
    if not already_stored:
        t0 = time.perf_counter()
        result.memories = ingest(store, dataset, as_facts)
        result.ingest_s = time.perf_counter() - t0
    probes, result.skipped = load_probes(dataset)
    kinds = search_kinds or [MemoryKind.FACT if as_facts is not None else MemoryKind.EPISODE]
    owner = {str(t[0]): uid for uid, u in dataset["users"].items() for s in u["sessions"] for t in s["turns"]}
    asked_at = {
        uid: max(parse_date(s["date"]) for s in u["sessions"]) + timedelta(days=1)
        for uid, u in dataset["users"].items()
        if u["sessions"]
    }
    users = list(dataset["users"])
    by_kind: dict[str, dict[int, int]] = defaultdict(lambda: dict.fromkeys(KS, 0))
    for uid, user_probes in probes.items():
        for probe in user_probes:
            t = time.perf_counter()
            now = probe.now or asked_at.get(uid)
            found = store.search(uid, probe.ask, k=max(KS), kinds=kinds, now=now, touch=False)
            result.search_ms.append((time.perf_counter() - t) * 1000)
            result.score(probe, [set(r.memory.source_message_ids) for r in found], by_kind)
            result.leaks += sum(
                1
                for r in found
                if r.memory.user_id != uid
                or any(owner.get(s, uid) != uid for s in r.memory.source_message_ids)
            )
            if check_leaks:
                for other in users:
                    if other == uid:
                        continue
                    result.leak_probes += 1
                    for r in store.search(other, probe.ask, k=max(KS), kinds=kinds, touch=False):
                        if r.memory.user_id != other or any(
                            owner.get(s, other) != other for s in r.memory.source_message_ids
                        ):
                            result.leaks += 1
            if progress:
                progress(1)
    result.by_kind = dict(by_kind)
    return result
