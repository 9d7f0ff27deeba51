"""``dora eval safety``: the safety rules on a labelled set, per label, with false positives.

Every case goes through :meth:`SafetyClassifier.assess`, the code the agent runs before any LLM
step, with the case's e5 vector computed the way a turn computes it (the query role). The vector is
made before the clock starts, since a turn has it anyway (memory search needs it): ``mean_ms`` is
the rules' own cost, ``embed_ms`` the embedder's, printed apart.

``folds=K`` evaluates the example bank on itself honestly: each of K folds is judged by a
classifier whose bank leaves that fold out. That is how the thresholds were chosen; a held-out set
is judged by the whole bank.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.safety import Bank, Example, SafetyClassifier, Thresholds
from agent.safety.bank import LABELS, QueryEmbedder
from bench.common import read_list
from memory.text import for_embedding


class DatasetError(ValueError):
    """The file is not a safety set; the message says what is wrong."""


def load_cases(path: Path) -> list[Example]:
    cases = read_list(path, "cases", '{"text", "label", "lang"}', DatasetError)
    out = []
    for i, c in enumerate(cases):
        if not isinstance(c, dict) or not isinstance(c.get("text"), str):
            raise DatasetError(f"{path}: case {i} needs a 'text' string")
        label = c.get("label")
        if label not in (*LABELS, "none"):
            raise DatasetError(f"{path}: case {i} has label {label!r}; use one of {[*LABELS, 'none']}")
        out.append(Example(c["text"], label, c.get("lang", "ru"), c.get("tier"), c.get("kind")))
    return out


@dataclass
class Judged:
    example: Example
    labels: frozenset[str]
    tier: str | None
    ms: float
    concerns: frozenset[str] = frozenset()


def embed(examples: list[Example], embedder: QueryEmbedder) -> tuple[np.ndarray, float]:
    """Query-role vectors one message at a time, as a turn computes it; and the mean milliseconds
    per text. Not in batches: the int8 embedder quantises each call's activations over the whole
    batch, so a message's vector moves a little with its batch-mates, and batched vectors moved the
    false-positive rate on the development set by 0.015 against what turns see."""
    start = time.perf_counter()
    vectors = np.vstack([embedder.query_vectors([for_embedding(e.text)]) for e in examples])
    return vectors, (time.perf_counter() - start) * 1000 / max(1, len(examples))


def judge(classifier: SafetyClassifier, examples: list[Example], vectors: np.ndarray) -> list[Judged]:
    out = []
    for example, vector in zip(examples, vectors, strict=True):
        start = time.perf_counter()
        a = classifier.assess(example.text, vector)
        ms = (time.perf_counter() - start) * 1000
        out.append(Judged(example, a.labels, a.tiers.get(example.label), ms, a.concerns))
    return out


def cross_validate(
    bank: Bank, folds: int, thresholds: Thresholds | None = None, seed: int = 7
) -> list[Judged]:
    """Each fold of the bank judged by the bank without it (its regression retrained)."""
    order = list(range(len(bank.examples)))
    random.Random(seed).shuffle(order)
    judged: list[Judged | None] = [None] * len(order)
    for f in range(folds):
        rows = np.array(sorted(order[f::folds]))
        classifier = SafetyClassifier(bank.without(rows), thresholds)
        for row, j in zip(
            rows, judge(classifier, [bank.examples[r] for r in rows], bank.vectors[rows]), strict=True
        ):
            judged[row] = j
    return [j for j in judged if j is not None]


def report(judged: list[Judged], embed_ms: float | None = None) -> dict[str, Any]:
    """The figures ``dora eval safety`` prints (``--json`` keys first, then detail)."""

    def block(items: list[Judged]) -> dict[str, Any]:
        by_label: dict[str, dict[str, Any]] = {}
        for label in LABELS:
            cases = [j for j in items if j.example.label == label]
            if cases:
                by_label[label] = {
                    "n": len(cases),
                    "recall": round(sum(label in j.labels for j in cases) / len(cases), 4),
                }
        negatives = [j for j in items if j.example.label == "none"]
        positives = [j for j in items if j.example.label != "none"]
        crisis = [j for j in positives if j.example.label in ("self_harm", "abuse")]
        return {
            "recall": round(sum(j.example.label in j.labels for j in positives) / len(positives), 4)
            if positives
            else None,
            "crisis_recall": round(sum(j.example.label in j.labels for j in crisis) / len(crisis), 4)
            if crisis
            else None,
            "false_positive_rate": round(sum(bool(j.labels) for j in negatives) / len(negatives), 4)
            if negatives
            else None,
            "n": len(items),
            "n_none": len(negatives),
            "by_label": by_label,
        }

    out = block(judged)
    # the attention band: what the persona is at least asked to listen for (self-harm, abuse)
    crisis = [j for j in judged if j.example.label in ("self_harm", "abuse")]
    negatives = [j for j in judged if j.example.label == "none"]
    if crisis and negatives:
        out["attention"] = {
            "recall": round(sum(j.example.label in j.labels | j.concerns for j in crisis) / len(crisis), 4),
            "false_positive_rate": round(
                sum(bool(j.labels | j.concerns) for j in negatives) / len(negatives), 4
            ),
        }
    out["mean_ms"] = round(sum(j.ms for j in judged) / max(1, len(judged)), 3)
    out["p95_ms"] = round(float(np.percentile([j.ms for j in judged], 95)), 3) if judged else None
    if embed_ms is not None:
        out["embed_ms"] = round(embed_ms, 2)
    tiered = [j for j in judged if j.example.tier and j.example.label in j.labels]
    if tiered:
        out["tier_accuracy"] = round(sum(j.tier == j.example.tier for j in tiered) / len(tiered), 4)
        imminent = [j for j in tiered if j.example.tier == "imminent"]
        out["imminent_recall"] = round(sum(j.tier == "imminent" for j in imminent) / max(1, len(imminent)), 4)
    out["by_lang"] = {
        lang: {k: v for k, v in block([j for j in judged if j.example.lang == lang]).items() if k != "n_none"}
        for lang in sorted({j.example.lang for j in judged})
    }
    out["errors"] = [
        {
            "text": j.example.text,
            "label": j.example.label,
            "got": sorted(j.labels),
        }
        for j in judged
        if (j.example.label == "none" and j.labels)
        or (j.example.label != "none" and j.example.label not in j.labels)
    ]
    return out


def run(
    cases: list[Example],
    classifier: SafetyClassifier,
    embedder: QueryEmbedder,
) -> dict[str, Any]:
    vectors, embed_ms = embed(cases, embedder)
    judge(classifier, cases[:20], vectors[:20])  # warm the lemma cache's first entries and numpy
    return report(judge(classifier, cases, vectors), embed_ms)
