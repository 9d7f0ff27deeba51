"""Memory benchmark: add throughput and search latency at growing store sizes.

At each size a fresh store is filled: one user holds ``min(size, 10k)`` memories and the rest are
spread over other users. Filling reuses vectors (a pool of distinct sentences, embedded once, is
cycled); the measured adds and searches do not: the adds embed new sentences, and every timed
search embeds its own, never-seen query, so query embedding is inside the figure.
"""

from __future__ import annotations

import itertools
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memory.embeddings import VectorEmbeddings
from memory.store import EpisodeIn, MemoryStore

TARGET_USER = "bench-user"
TARGET_MAX = 10_000
OTHER_USER_SIZE = 5_000

_NAMES = ["Бублик", "Мурка", "Рекс", "Барсик", "Лайка", "Snowball", "Max", "Луна", "Тоша", "Кекс"]
_PEOPLE = [
    "сестра Оля",
    "брат Дима",
    "мама",
    "папа",
    "подруга Катя",
    "друг Саша",
    "my boss Mike",
    "бабушка",
    "коллега Игорь",
    "сосед Петя",
]
_PLACES = ["Казани", "Москве", "Тбилиси", "Новосибирске", "Питере", "Berlin", "Сочи", "Екатеринбурге"]
_THINGS = [
    "сметану",
    "пиццу",
    "джаз",
    "бег по утрам",
    "сериалы",
    "шахматы",
    "coffee",
    "горы",
    "рыбалку",
    "настолки",
    "йогу",
    "старые фильмы",
]
_TEMPLATES = [
    "Мой кот {name} опять {thing} требует",
    "{person} переехала в город {place}, скучаю",
    "Я вчера был в {place} и ел {thing}",
    "{person} подарила мне {thing} на день рождения",
    "Кажется, я начинаю любить {thing}, кто бы мог подумать",
    "Сегодня {person} сказал, что {name} самый смешной",
    "I really miss {place}, the {thing} there was amazing",
    "Надо не забыть позвонить: {person} ждёт в {place}",
    "Устал, хочу в {place}, лежать и ничего не делать, только {thing}",
    "С {name} гуляли два часа, потом {thing}",
]
_QUERIES = [
    "как зовут моего кота {n}?",
    "что я люблю больше всего, {n}?",
    "где живёт {p} сейчас {n}",
    "what did I eat in {pl} {n}",
    "куда я хотел поехать {n}",
    "что мне подарили {n}",
    "о чём мы говорили про {t} {n}",
    "с кем я гулял {n}",
]


def sentence_pool(size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < size:
        out.add(
            rng.choice(_TEMPLATES).format(
                name=rng.choice(_NAMES),
                person=rng.choice(_PEOPLE),
                place=rng.choice(_PLACES),
                thing=rng.choice(_THINGS),
            )
            + rng.choice(["", "!", ".", " 🙂", "...", " (честно)", " — вот так"])
            + f" #{len(out)}"
        )
    return sorted(out)


class PoolEmbeddings(VectorEmbeddings):
    """Episode vectors (the query role) from a precomputed table, for filling only; anything else
    goes to the real model."""

    def __init__(self, real: VectorEmbeddings, table: dict[str, np.ndarray]) -> None:
        self.real, self.table, self.dim = real, table, real.dim
        self.space = real.space  # the real model's vectors: the store marks collections with it

    def query_vector(self, text: str) -> np.ndarray:
        return self.real.query_vector(text)

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.table]
        if missing:
            self.table.update(zip(missing, self.real.query_vectors(missing), strict=True))
        return np.vstack([self.table[t] for t in texts])

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        return self.real.passage_vectors(texts)


@dataclass
class SizeResult:
    size: int
    add_per_s: float
    add_single_per_s: float
    search_p50_ms: float
    search_p95_ms: float
    fill_s: float


def _fill(store: MemoryStore, user: str, count: int, pool: list[str], start: int) -> None:
    cycle = itertools.islice(itertools.cycle(pool), start, start + count)
    batch: list[EpisodeIn] = []
    for text in cycle:
        batch.append(EpisodeIn(text=text, extracted=True))
        if len(batch) == 500:
            store.add_episodes(user, batch)
            batch = []
    if batch:
        store.add_episodes(user, batch)


def bench_size(
    make_store: Callable[[Path, VectorEmbeddings], MemoryStore],
    real: VectorEmbeddings,
    table: dict[str, np.ndarray],
    pool: list[str],
    size: int,
    searches: int = 200,
    adds: int = 300,
    log: Callable[[str], None] = print,
) -> SizeResult:
    with tempfile.TemporaryDirectory(prefix="dora-bench-") as tmp:
        filler = make_store(Path(tmp), PoolEmbeddings(real, table))
        t0 = time.perf_counter()
        target = min(size, TARGET_MAX)
        _fill(filler, TARGET_USER, target, pool, 0)
        rest, n = size - target, 0
        while rest > 0:
            chunk = min(rest, OTHER_USER_SIZE)
            _fill(filler, f"other-{n}", chunk, pool, n * 997)
            rest -= chunk
            n += 1
        fill_s = time.perf_counter() - t0
        log(f"  filled {size} memories in {fill_s:.1f} s")
        store = make_store(Path(tmp), real)
        store.warm(TARGET_USER)
        rng = random.Random(size)
        fresh = [f"{s} — новое {i}" for i, s in enumerate(rng.sample(pool, min(adds * 2, len(pool))))]
        # batched adds (how a backlog or an import is written)
        batch_texts = fresh[:adds]
        t = time.perf_counter()
        for i in range(0, len(batch_texts), 50):
            store.add_episodes(
                TARGET_USER, [EpisodeIn(text=x, extracted=True) for x in batch_texts[i : i + 50]]
            )
        add_per_s = len(batch_texts) / (time.perf_counter() - t)
        # one message per call (how the bot writes after each turn)
        single_texts = fresh[adds : adds + min(100, adds)]
        t = time.perf_counter()
        for x in single_texts:
            store.add_episode(TARGET_USER, x, extracted=True)
        add_single_per_s = len(single_texts) / (time.perf_counter() - t)
        store.warm(TARGET_USER)
        queries = [
            rng.choice(_QUERIES).format(
                n=i, p=rng.choice(_PEOPLE), pl=rng.choice(_PLACES), t=rng.choice(_THINGS)
            )
            for i in range(searches)
        ]
        for q in queries[:5]:  # warm caches, not vectors: these queries are not reused below
            store.search(TARGET_USER, q + " разогрев", touch=False)
        lat = []
        for q in queries:
            t = time.perf_counter()
            store.search(TARGET_USER, q, k=10)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        return SizeResult(
            size,
            round(add_per_s, 1),
            round(add_single_per_s, 1),
            round(lat[len(lat) // 2], 2),
            round(lat[int(len(lat) * 0.95)], 2),
            round(fill_s, 1),
        )


def run_bench(
    make_store: Callable[[Path, VectorEmbeddings], MemoryStore],
    real: VectorEmbeddings,
    sizes: list[int],
    searches: int = 200,
    log: Callable[[str], None] = print,
) -> list[SizeResult]:
    pool = sentence_pool(min(max(sizes), 4000))
    log(f"embedding a pool of {len(pool)} sentences for filling...")
    table = dict(zip(pool, real.query_vectors(pool), strict=True))
    results = []
    for size in sizes:
        log(f"size {size}:")
        results.append(bench_size(make_store, real, table, pool, size, searches=searches, log=log))
    return results
