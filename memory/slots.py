"""Life slots: the subjects on which a person's state changes (job, home, partner, pet, …).

A question about now («где я сейчас живу?») asks for the newest word on one slot, and the newest
message on that slot rarely shares its words («с вероникой съехались, сняли однушку на динамо»).
Each slot is a handful of phrases written here (not taken from any probe set), embedded once by
e5; a message belongs to the slot whose centroid it is closest to, and the question names its slot
the same way. Pure functions over vectors: the store embeds the phrases and passes them in.
"""

from __future__ import annotations

import numpy as np

# Written for this module, in the register people use in a messenger; a few per slot is enough
# for a centroid, and none of them is from the probe sets.
SLOT_PHRASES: dict[str, tuple[str, ...]] = {
    "work": (
        "где я работаю",
        "устроился на новую работу",
        "уволилась с работы",
        "меня повысили, теперь я старший",
        "подрабатываю по вечерам",
        "сменил работу, теперь в другой компании",
        "мой начальник и коллеги",
        "работаю в ночные смены",
    ),
    "home": (
        "где я живу",
        "переехали в другой город",
        "сняли квартиру",
        "съехала от родителей",
        "живу в общежитии",
        "купили дом за городом",
        "переезжаю в новую квартиру",
    ),
    "partner": (
        "мой парень",
        "моя девушка",
        "мы расстались",
        "познакомился с девушкой, встречаемся",
        "мой муж",
        "жена",
        "мы поженились",
        "сделал предложение, свадьба",
    ),
    "pet": (
        "мой кот",
        "наша собака",
        "кошка заболела, возили к ветеринару",
        "завели котёнка",
        "щенок",
        "питомец",
    ),
    "health": (
        "бросил курить",
        "опять начала курить",
        "сижу на диете",
        "болит спина, хожу к врачу",
        "не пью алкоголь",
        "здоровье, лекарства, больница",
        "похудел на пять кило",
    ),
    "study": (
        "учусь в университете",
        "сдал экзамен",
        "курсы английского",
        "поступила в магистратуру",
        "сессия, диплом",
        "учу язык, уровень B1",
    ),
    "hobby": (
        "хожу в спортзал",
        "занимаюсь бегом",
        "пою в хоре",
        "играю в группе на гитаре",
        "бросил кружок",
        "моё хобби",
    ),
}

SLOTS: tuple[str, ...] = tuple(SLOT_PHRASES)


def centroids(phrase_vectors: np.ndarray, sizes: list[int]) -> np.ndarray:
    """One unit vector per slot: the normalised mean of its phrases' vectors (in ``sizes`` order)."""
    out = []
    start = 0
    for n in sizes:
        mean = phrase_vectors[start : start + n].mean(axis=0)
        out.append(mean / max(float(np.linalg.norm(mean)), 1e-9))
        start += n
    return np.asarray(out, dtype=np.float32)


def slot_of(vectors: np.ndarray, slot_centroids: np.ndarray, margin: float) -> np.ndarray:
    """Each vector's slot (an index into the centroids), or -1 when no slot stands out: its best
    cosine must beat its mean cosine to all slots by ``margin`` (e5's cosines are compressed, so
    the raw best slot of a message about the weather is still some slot)."""
    sims = vectors @ slot_centroids.T
    best = sims.argmax(axis=1)
    lead = sims.max(axis=1) - sims.mean(axis=1)
    return np.where(lead >= margin, best, -1)


def newest_of_slot(
    slots: np.ndarray, slot: int, updated: np.ndarray, eligible: np.ndarray, top: int
) -> np.ndarray:
    """The ``top`` newest eligible rows on ``slot``: the current word on that subject."""
    rows = np.flatnonzero(eligible & (slots == slot))
    if rows.size == 0 or top <= 0:
        return rows[:0]
    return rows[np.argsort(-updated[rows], kind="stable")[:top]]
