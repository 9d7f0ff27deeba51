"""``dora bench tools``: what picking a photo costs per message.

The selector runs on every message that could get a photo, on the same embedder as memory, so its
latency adds to the turn. Measured here: one :meth:`PhotoSelector.select` call end to end (request
parsing, the moment's query embedding, scoring, the cached index lookup) over a mix of direct
requests, natural mentions and unrelated talk in both languages, cycling through the personas.
Index builds (one per persona, then cached) are timed apart, since a worker pays them once.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from typing import Any

from memory.embeddings import VectorEmbeddings
from personas.card import PersonaCard
from tools.photos import PhotoSelector, wants_photo

MOMENTS = (
    "пришли фото с пляжа",
    "только что сварила кофе",
    "как ты выглядишь?",
    "у меня завтра экзамен по матанализу",
    "send me a pic of your guitar",
    "what's the capital of France",
    "гуляла сегодня в парке, листья такие красивые",
    "покажи фото со сцены",
    "мой начальник опять на меня наорал",
    "I love hiking in the mountains",
    "что готовишь на ужин?",
    "Что там у тебя на гитаре? Пришли фото!",
    "посоветуй какой-нибудь сериал",
    "how was the concert last night?",
    "мечтаю сейчас оказаться на море",
    "я сегодня поздно вернулся домой с работы",
)


def _percentile(sorted_ms: list[float], q: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[index]


def selector_bench(
    embeddings: VectorEmbeddings, library: Iterable[PersonaCard], n: int = 200
) -> dict[str, Any]:
    """``n`` timed selections; p50/p95/mean in ms, plus the one-off index build per persona."""
    cards = list(library)
    if not cards:
        raise ValueError("no personas to benchmark the photo selector on")
    selector = PhotoSelector(embeddings)
    start = time.perf_counter()
    for card in cards:
        selector.index(card)
    build_ms = (time.perf_counter() - start) * 1000 / len(cards)
    embeddings.query_vector("warm-up")

    timings: list[float] = []
    picked = 0
    for i in range(max(1, n)):
        card = cards[i % len(cards)]
        # a few suffixes so repeated moments are not byte-identical across rounds
        moment = MOMENTS[i % len(MOMENTS)] + ("" if i < len(MOMENTS) else f" {'!' * (i // len(MOMENTS) % 3)}")
        start = time.perf_counter()
        direct = wants_photo(moment) is not None
        choice = selector.select(card, moment.strip(), include_pro=True, direct_request=direct)
        timings.append((time.perf_counter() - start) * 1000)
        picked += choice is not None
    timings.sort()
    return {
        "selections": len(timings),
        "personas": len(cards),
        "p50_ms": _percentile(timings, 0.50),
        "p95_ms": _percentile(timings, 0.95),
        "mean_ms": statistics.fmean(timings),
        "index_build_ms_per_persona": build_ms,
        "picked_share": picked / len(timings),
    }
