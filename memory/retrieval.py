"""How memories are ranked: hybrid relevance, then Generative-Agents-style recency and importance.

Relevance fuses dense cosine and BM25 by z-scores over the user's eligible memories (a
convex mix; on LoCoMo it beat reciprocal-rank fusion by 0.04 recall@10), so it is measured in
standard deviations above the user's average memory. Over the best ``candidates`` a weighted sum
adds, as in Park et al. (2023), recency (exponential decay from when the memory was last asserted,
in [0, 1]) and importance (1–10 → 0.1–1).

For a question about now, :func:`follow_ups` then puts the latest memory on each top result's
subject in front of it.

Recency deliberately uses ``updated_at`` (when the memory was last stated or rewritten), not the
last access: otherwise retrieving an outdated statement would make it look fresh again and let it
beat the newer one that replaced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from memory.models import ScoreParts

_DAY_S = 86400.0


@dataclass(frozen=True)
class RankingWeights:
    relevance: float = 1.0
    recency: float = 0.15
    importance: float = 0.1
    recency_half_life_days: float = 30.0
    dense_share: float = 0.6  # share of dense in the relevance mix; the rest is lexical
    candidates: int = 50  # how many by relevance enter the final ranking
    follow_up_parents: int = 2  # the top results whose later follow-ups are brought in (0: off)
    follow_up_max_df: int = 4  # a word in at most this many memories marks one subject
    follow_up_by: str = "words"  # what marks a later memory on the subject: "words", "links" or "both"
    # Measured on the Russian tuning part (91 probes; R@1/R@5/R@10, before: 0.659/0.879/0.934):
    # now_recency 0.3 → 0.670/0.879/0.945, 0.6 → 0.670/0.890/0.956 (updates R@1 0.32 → 0.36,
    # R@5 0.59 → 0.64), 1.0 → 0.659/0.868, 2.0 → 0.637/0.879; time_match 0.3 and 0.6 changed
    # nothing, 1.0 → temporal R@1 0.74 → 0.79; dated 0.3 → temporal R@5 0.89 → 0.95, 0.6 the same
    # with R@10 0.945, 1.0 cost temporal R@1 (0.68). All three together: 0.681/0.901/0.967.
    # superseded (0.3–1.0, with or without now_recency) and follow-ups by write-time links instead
    # of rare words ("links", "both", link cosines 0.87–0.90) did not help: left at 0 / "words".
    now_recency: float = 0.6  # for a question about now: this much more weight on recency
    superseded: float = 0.0  # for a question about now: taken off a memory a later one restates
    time_match: float = 1.0  # added when the memory holds from inside the time the query names
    dated: float = 0.6  # added, for a "when" question, to memories whose text names a time
    # For a question about now on one life slot (memory.slots): added to that slot's newest
    # memory. Tuning part, updates R@1/R@5 (before 0.364/0.682, all 0.681/0.901): margin 0.03 with
    # lift 1.0 → 0.409/0.773 (all 0.692/0.923), lift 2.0 the same, 0.5 → 0.364/0.727; margin 0.0–0.01
    # cost R@1 (0.318, 0.182 at lift 2.0), 0.02 → 0.364/0.682–0.727. Slot membership by a z-score
    # of the cosine to the question's slot instead of a message's own best slot (z 1.0–2.0, the
    # newest one or two): at best 0.455/0.727, R@5 no better; not kept. Far from the 0.90 target.
    # "About now" by e5 instead of words alone (16 questions about now and 16 others written apart,
    # Russian and English; a question closer to the first prototype by a margin): 0.01 → updates
    # 0.455/0.818 but all 0.681 (paraphrase R@1 0.60 → 0.60, R@5 0.95 → 0.90; multihop R@1 0.85 →
    # 0.77), 0.005 → all 0.626, 0.02 and more changed nothing: the updates the words miss («мне на
    # спевку идти?») are no closer to the prototype than questions about the past. Not kept.
    slot_newest: float = 1.0
    slot_top: int = 1  # how many of the slot's newest memories get it
    slot_margin: float = 0.03  # a message's best slot must beat its mean slot cosine by this much
    # spreads below these are noise, not signal (a new user with three memories): z-scores use at least them
    dense_spread_floor: float = 0.03
    lexical_spread_floor: float = 0.5

    def only(self, mode: str) -> RankingWeights:
        """The ranking reduced to one signal, for side-by-side evaluation: ``"dense"`` (e5 cosine
        alone), ``"lexical"`` (BM25 alone) or ``"full"`` (these weights unchanged)."""
        if mode == "full":
            return self
        if mode not in ("dense", "lexical"):
            raise ValueError(f"unknown ranking mode {mode!r} (dense, lexical or full)")
        return replace(
            self,
            relevance=1.0,
            recency=0.0,
            importance=0.0,
            dense_share=1.0 if mode == "dense" else 0.0,
            follow_up_parents=0,
            now_recency=0.0,
            superseded=0.0,
            time_match=0.0,
            dated=0.0,
            slot_newest=0.0,
        )


RANKING_MODES = ("dense", "lexical", "full")


@dataclass(frozen=True)
class Ranked:
    row: int
    parts: ScoreParts


def _zscore(x: np.ndarray, floor: float) -> np.ndarray:
    return (x - float(x.mean())) / max(float(x.std()), floor)


@dataclass(frozen=True)
class Subjects:
    """Each memory's own (hashed) words, the memories that share each word, and for each memory the
    later ones that restate it (write-time links, :func:`restated`)."""

    of_row: list[set[str]]
    rows_of: dict[str, list[int]]
    newer_of: dict[int, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkRule:
    """When a new episode restates an older one, that is, speaks of the same subject: linked when
    it is written, so that for a question about now the newer one comes first.

    Same subject = e5 cosine of the two messages at least ``cosine``, or at least ``shared_cosine``
    with a rare word in common (one in at most ``max_df`` memories: a name, a place, «вахта»).
    e5's cosines between one user's messages are compressed (median 0.83, 90th percentile 0.87
    on the Russian tuning set), so these sit near its top percentiles.
    """

    cosine: float = 0.89
    shared_cosine: float = 0.86
    max_df: int = 4
    max_links: int = 2


def restated(
    sims: np.ndarray,
    rare: set[str],
    words_of: Callable[[int], set[str]],
    rule: LinkRule,
    allowed: np.ndarray | None = None,
) -> list[int]:
    """The older episodes a new message restates, closest first: ``sims`` are its cosines to
    them, ``words_of(j)`` episode j's own words, ``rare`` the message's own rare words, and
    ``allowed`` (optional) which of them may be linked."""
    close = np.flatnonzero(sims >= min(rule.cosine, rule.shared_cosine))
    if allowed is not None:
        close = close[allowed[close]]
    hits: list[int] = []
    for j in close[np.argsort(-sims[close], kind="stable")]:  # closest first; stop at max_links
        if sims[j] >= rule.cosine or (sims[j] >= rule.shared_cosine and words_of(int(j)) & rare):
            hits.append(int(j))
            if len(hits) == rule.max_links:
                break
    return hits


def follow_ups(
    order: list[int],
    subjects: Subjects,
    updated: np.ndarray,
    eligible: np.ndarray,
    weights: RankingWeights,
) -> list[int]:
    """Bring in, for each of the top results, the newest later memory that shares a rare word with it.

    "мой парень тимур обещал приехать" is found; "мы с тимуром расстались", said later, shares only
    the rare word "тимур" with it and nothing with the question. A rare word (in at most
    ``follow_up_max_df`` memories) marks the same subject, so the later memory is the subject's
    latest state, and it goes right before its parent. Only for queries about now: on LoCoMo's
    questions about the past, bringing follow-ups in for every query cost 0.04 recall@5.
    """
    out: list[int] = []
    for pos, row in enumerate(order):
        follow = None
        if pos < weights.follow_up_parents:
            newer: list[int] = []
            if weights.follow_up_by in ("words", "both"):
                rare = [
                    t
                    for t in subjects.of_row[row]
                    if 2 <= len(subjects.rows_of[t]) <= weights.follow_up_max_df
                ]
                newer += [
                    j for t in rare for j in subjects.rows_of[t] if eligible[j] and updated[j] > updated[row]
                ]
            if weights.follow_up_by in ("links", "both"):
                newer += [j for j in _restating(row, subjects.newer_of) if eligible[j]]
            if newer:
                follow = max(newer, key=lambda j: updated[j])
        if follow is not None and follow not in out:
            out.append(follow)
        if row not in out:
            out.append(row)
    return out


@dataclass(frozen=True)
class Times:
    """What a query says about time, and when each memory holds from (``valid_at``) and was said."""

    valid_at: np.ndarray
    said_at: np.ndarray
    window: tuple[float, float] | None = None  # the time the query names: [start, end)
    asks_when: bool = False  # «когда…», "when…": memories that name a time answer it

    def boost(self, rows: np.ndarray, weights: RankingWeights) -> np.ndarray | None:
        out = None
        if self.window is not None and weights.time_match:
            start, end = self.window
            valid = self.valid_at[rows]
            out = weights.time_match * ((valid >= start) & (valid < end))
        if self.asks_when and weights.dated:
            # a time other than the day it was said («сегодня» is not one: under a day away)
            named = weights.dated * (np.abs(self.valid_at[rows] - self.said_at[rows]) >= _DAY_S)
            out = named if out is None else out + named
        return out


def _restating(row: int, newer_of: dict[int, list[int]]) -> list[int]:
    """Every later memory that restates ``row``, directly or through another one."""
    seen: list[int] = []
    todo = list(newer_of.get(row, ()))
    while todo:
        j = todo.pop()
        if j not in seen:
            seen.append(j)
            todo.extend(newer_of.get(j, ()))
    return seen


def rank(
    dense: np.ndarray,
    lexical: np.ndarray,
    eligible: np.ndarray,
    updated_ts: np.ndarray,
    importance: np.ndarray,
    now_ts: float,
    weights: RankingWeights,
    k: int,
    subjects: Subjects | None = None,
    about_now: bool = False,
    times: Times | None = None,
    slot_rows: np.ndarray | None = None,
) -> list[Ranked]:
    """Top ``k`` eligible rows, best first, with every score part kept for explanations.

    ``slot_rows``: for a question about now on one life slot, that slot's newest memories
    (:func:`memory.slots.newest_of_slot`); they get ``slot_newest`` and may enter late."""
    rows = np.flatnonzero(eligible)
    if rows.size == 0 or k <= 0:
        return []
    d, lex = dense[rows], lexical[rows]
    has_lexical = float(lex.max(initial=0.0)) > 0.0
    if weights.dense_share <= 0.0:  # lexical alone (an evaluation mode): no words in common, no order
        fused = _zscore(lex, weights.lexical_spread_floor) if has_lexical else np.zeros_like(d)
    else:
        fused = _zscore(d, weights.dense_spread_floor)
        if has_lexical:
            fused = weights.dense_share * fused + (1.0 - weights.dense_share) * _zscore(
                lex, weights.lexical_spread_floor
            )
    age_days = np.maximum(0.0, (now_ts - updated_ts[rows]) / _DAY_S)
    rec = np.power(0.5, age_days / max(weights.recency_half_life_days, 1e-6))
    imp = importance[rows] / 10.0
    total = weights.relevance * fused + weights.recency * rec + weights.importance * imp
    if about_now and weights.now_recency:
        total = total + weights.now_recency * rec
    if about_now and weights.superseded and subjects is not None and subjects.newer_of:
        stale = np.array(
            [any(eligible[j] for j in subjects.newer_of.get(int(r), ())) for r in rows], dtype=bool
        )
        total = total - weights.superseded * stale
    timely = times.boost(rows, weights) if times is not None else None
    if about_now and weights.slot_newest and slot_rows is not None and slot_rows.size:
        lift = weights.slot_newest * np.isin(rows, slot_rows)  # the slot's newest word
        timely = lift if timely is None else timely + lift
    if timely is not None:
        total = total + timely
    entry = fused if timely is None else fused + timely  # a memory of the asked time may enter late
    n_cand = min(max(weights.candidates, k), rows.size)
    cand = np.argpartition(-entry, n_cand - 1)[:n_cand] if n_cand < rows.size else np.arange(rows.size)
    order = cand[np.argsort(-total[cand], kind="stable")]
    chosen = [int(rows[i]) for i in order[:k]]
    if about_now and subjects is not None and weights.follow_up_parents > 0:
        chosen = follow_ups(chosen, subjects, updated_ts, eligible, weights)[:k]
    at = np.searchsorted(rows, chosen)  # rows is sorted: position of each chosen row in the arrays
    return [
        Ranked(
            row,
            ScoreParts(
                dense=float(d[i]),
                lexical=float(lex[i]),
                relevance=float(fused[i]),
                recency=float(rec[i]),
                importance=float(imp[i]),
                total=float(total[i]),
            ),
        )
        for row, i in zip(chosen, at, strict=True)
    ]
