"""How memories are ranked: hybrid relevance, then Generative-Agents-style recency and importance.

Relevance fuses dense cosine and BM25 by z-scores over the user's eligible memories (a
convex mix; on LoCoMo it beat reciprocal-rank fusion by 0.04 recall@10), so it is measured in
standard deviations above the user's average memory. Over the best ``candidates`` a weighted sum
adds, as in Park et al. (2023), recency (exponential decay from when the memory was last asserted,
in [0, 1]) and importance (1–10 → 0.1–1).

Recency deliberately uses ``updated_at`` (when the memory was last stated or rewritten), not the
last access: otherwise retrieving an outdated statement would make it look fresh again and let it
beat the newer one that replaced it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DAY_S = 86400.0


@dataclass(frozen=True)
class RankingWeights:
    relevance: float = 1.0
    recency: float = 0.15
    importance: float = 0.1
    recency_half_life_days: float = 30.0
    dense_share: float = 0.6  # share of dense in the relevance mix; the rest is lexical
    candidates: int = 50  # how many by relevance enter the final ranking
    # spreads below these are noise, not signal (a new user with three memories): z-scores use at least them
    dense_spread_floor: float = 0.03
    lexical_spread_floor: float = 0.5


@dataclass(frozen=True)
class Ranked:
    row: int
    dense: float
    lexical: float
    relevance: float
    recency: float
    importance: float
    total: float


def _zscore(x: np.ndarray, floor: float) -> np.ndarray:
    return (x - float(x.mean())) / max(float(x.std()), floor)


def rank(
    dense: np.ndarray,
    lexical: np.ndarray,
    eligible: np.ndarray,
    updated_ts: np.ndarray,
    importance: np.ndarray,
    now_ts: float,
    weights: RankingWeights,
    k: int,
) -> list[Ranked]:
    """Top ``k`` eligible rows, best first, with every score part kept for explanations."""
    rows = np.flatnonzero(eligible)
    if rows.size == 0 or k <= 0:
        return []
    d, lex = dense[rows], lexical[rows]
    fused = _zscore(d, weights.dense_spread_floor)
    if float(lex.max(initial=0.0)) > 0.0:
        fused = weights.dense_share * fused + (1.0 - weights.dense_share) * _zscore(
            lex, weights.lexical_spread_floor
        )
    n_cand = min(max(weights.candidates, k), rows.size)
    cand = np.argpartition(-fused, n_cand - 1)[:n_cand] if n_cand < rows.size else np.arange(rows.size)
    rel = fused[cand]
    updated = updated_ts[rows[cand]]
    age_days = np.maximum(0.0, (now_ts - updated) / _DAY_S)
    rec = np.power(0.5, age_days / max(weights.recency_half_life_days, 1e-6))
    imp = importance[rows[cand]] / 10.0
    total = weights.relevance * rel + weights.recency * rec + weights.importance * imp
    order = np.argsort(-total, kind="stable")[:k]
    return [
        Ranked(
            row=int(rows[cand[i]]),
            dense=float(d[cand[i]]),
            lexical=float(lex[cand[i]]),
            relevance=float(rel[i]),
            recency=float(rec[i]),
            importance=float(imp[i]),
            total=float(total[i]),
        )
        for i in order
    ]
