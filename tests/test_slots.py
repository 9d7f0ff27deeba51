"""Life slots (memory.slots) and the lift a question about now gives a slot's newest memory."""

from __future__ import annotations

import numpy as np

from memory.retrieval import RankingWeights, rank
from memory.slots import SLOT_PHRASES, SLOTS, centroids, newest_of_slot, slot_of


def test_every_slot_has_phrases_and_centroids_are_unit() -> None:
    assert SLOTS and all(len(SLOT_PHRASES[s]) >= 3 for s in SLOTS)
    vecs = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0]], dtype=np.float32)
    cents = centroids(vecs, [2, 1])
    assert cents.shape == (2, 2)
    assert np.allclose(np.linalg.norm(cents, axis=1), 1.0)
    assert np.allclose(cents[1], [1.0, 0.0])


def test_slot_of_needs_a_lead_over_the_mean() -> None:
    cents = np.eye(3, dtype=np.float32)
    vecs = np.array([[0.9, 0.1, 0.1], [0.34, 0.33, 0.33]], dtype=np.float32)
    assert slot_of(vecs, cents, 0.1).tolist() == [0, -1]  # the second leans nowhere


def test_newest_of_slot_is_the_newest_eligible_one() -> None:
    slots = np.array([0, 1, 0, 0, -1])
    updated = np.array([1.0, 9.0, 3.0, 5.0, 8.0])
    eligible = np.array([True, True, True, False, True])
    assert newest_of_slot(slots, 0, updated, eligible, 1).tolist() == [2]  # row 3 is not eligible
    assert newest_of_slot(slots, 0, updated, eligible, 2).tolist() == [2, 0]
    assert newest_of_slot(slots, 2, updated, eligible, 1).size == 0


def _ranked(about_now: bool, weights: RankingWeights) -> list[int]:
    dense = np.array([0.83, 0.82, 0.82, 0.81], dtype=np.float32)  # within the spread floor
    n = dense.size
    return [
        r.row
        for r in rank(
            dense,
            np.zeros(n, dtype=np.float32),
            np.ones(n, dtype=bool),
            np.zeros(n),
            np.full(n, 5.0),
            0.0,
            weights,
            k=4,
            about_now=about_now,
            slot_rows=np.array([3]),
        )
    ]


def test_the_slot_lift_only_for_questions_about_now_and_not_in_dense_mode() -> None:
    weights = RankingWeights(follow_up_parents=0)
    assert _ranked(True, weights)[0] == 3  # the slot's newest word comes first
    assert _ranked(False, weights)[0] == 0
    assert _ranked(True, weights.only("dense"))[0] == 0
