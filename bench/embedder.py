"""What the embedder costs on this machine, so bench figures from different machines can be read.

Most of a memory search and nearly all of an add is embedding one text, so ``dora bench memory``
and ``dora bench bot`` print which embedder ran and its cost next to their own figures: a p95
from a fast CPU and one from a slow CPU mean little without it.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import MESSAGES
from memory.embeddings import VectorEmbeddings


def embedder_cost(embedder: VectorEmbeddings, repeats: int = 5, batch: int = 32) -> dict[str, Any]:
    """``name``, ``threads``, ``ms_per_text`` (one message per call, median) and ``batch_texts_per_s``
    (``batch`` messages per call). Texts are made unique per call, so no cache answers."""
    inner = getattr(embedder, "inner", embedder)  # RecentQueries would answer repeats from memory
    inner.query_vector("warm-up")
    singles = []
    for r in range(repeats):
        for i, text in enumerate(MESSAGES):
            t = time.perf_counter()
            inner.query_vector(f"{text} ({r}.{i})")
            singles.append((time.perf_counter() - t) * 1000)
    texts = [f"{MESSAGES[i % len(MESSAGES)]} [{i}]" for i in range(batch)]
    rates = []
    for r in range(max(2, repeats // 2)):
        t = time.perf_counter()
        inner.query_vectors([f"{x} {r}" for x in texts])
        rates.append(batch / (time.perf_counter() - t))
    return {
        "name": getattr(inner, "name", type(inner).__name__),
        "threads": getattr(inner, "threads", None),
        "ms_per_text": round(statistics.median(singles), 2),
        "batch_texts_per_s": round(statistics.median(rates), 1),
    }


def describe(cost: dict[str, Any]) -> str:
    threads = f", {cost['threads']} thread(s)" if cost.get("threads") else ""
    return (
        f"embedder {cost['name']}{threads}: {cost['ms_per_text']} ms per message, "
        f"{cost['batch_texts_per_s']} texts/s in batches of 32"
    )
