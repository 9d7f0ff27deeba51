"""The example bank: labelled messages the meaning half of the classifier compares a turn with.

``bank.json`` holds messages written as people write in messengers, each labelled ``self_harm``,
``abuse``, ``minor``, ``injection`` or ``none`` (hard negatives: hyperbole, cooking cuts, grief,
coursework, film titles, adults' children's ages…), with a tier for the first two. A turn's e5
vector (the one memory search computes anyway) is compared with every example's: for each label,
the mean cosine of its ``k`` nearest examples, minus the same for ``none``, is that label's margin.
A bank of ~1,300 vectors costs a fraction of a millisecond per turn.

The vectors are the embedder's, so they ship precomputed for the bundled e5 (``bank.e5.npy``,
float16, stamped with a digest of the bank's texts); another embedder computes them once at start
(about a minute for e5-sized models on two cores). Regenerate the shipped file after editing the
bank with ``python -m agent.safety.bank``; a test fails while it is stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

LABELS = ("self_harm", "abuse", "minor", "injection")
BANK_FILE = "bank.json"
E5_VECTORS = "bank.e5.npy"


class QueryEmbedder(Protocol):
    """What the bank needs of an embedder: e5's query role, in batches (memory's embedder has it)."""

    def query_vectors(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    lang: str
    tier: str | None = None


def load_examples(path: Path | None = None) -> list[Example]:
    """The shipped bank (or a dataset in the same format)."""
    raw = (
        path.read_text(encoding="utf-8")
        if path
        else resources.files("agent.safety").joinpath(BANK_FILE).read_text(encoding="utf-8")
    )
    return [
        Example(c["text"], c["label"], c.get("lang", "ru"), c.get("tier")) for c in json.loads(raw)["cases"]
    ]


def digest(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(e.text.encode("utf-8") + b"\x00")
    return h.hexdigest()[:16]


class Bank:
    """Examples with their unit vectors, and the per-label nearest-neighbour margins."""

    def __init__(self, examples: list[Example], vectors: np.ndarray, k: int = 3) -> None:
        if len(examples) != len(vectors):
            raise ValueError(f"{len(examples)} examples but {len(vectors)} vectors")
        self.examples = examples
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = (vectors / np.maximum(norms, 1e-9)).astype(np.float32)
        self.k = k
        self.labels = np.array([e.label for e in examples])
        self.imminent = np.array([e.tier == "imminent" for e in examples])
        self._rows = {label: np.flatnonzero(self.labels == label) for label in (*LABELS, "none")}

    @classmethod
    def build(cls, examples: list[Example], embedder: QueryEmbedder, name: str = "") -> Bank:
        """Vectors from the shipped file when it matches the embedder and the bank, else computed."""
        if name == "e5":
            shipped = _shipped_vectors(examples)
            if shipped is not None:
                return cls(examples, shipped)
        log.info("safety: embedding the %d-example bank for %s (once per process)", len(examples), name)
        vectors = np.concatenate(
            [embedder.query_vectors([e.text for e in examples[i : i + 64]]) for i in range(0, len(examples), 64)]
        )
        return cls(examples, vectors)

    def without(self, drop: np.ndarray) -> Bank:
        """The bank less some rows (cross-validation: a fold is judged by the rest)."""
        keep = np.setdiff1d(np.arange(len(self.examples)), drop)
        return Bank([self.examples[i] for i in keep], self.vectors[keep], self.k)

    def margins(self, vector: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """Per label: mean cosine of its k nearest examples minus that of ``none``'s; and the share
        of imminent examples among the label's k nearest."""
        v = vector / max(float(np.linalg.norm(vector)), 1e-9)
        sims = self.vectors @ v.astype(np.float32)
        top: dict[str, float] = {}
        imminent: dict[str, float] = {}
        for label, rows in self._rows.items():
            if len(rows) == 0:
                top[label] = 0.0
                continue
            k = min(self.k, len(rows))
            best = rows[np.argpartition(-sims[rows], k - 1)[:k]]
            top[label] = float(sims[best].mean())
            imminent[label] = float(self.imminent[best].mean())
        return {label: top[label] - top["none"] for label in LABELS}, imminent


def _shipped_vectors(examples: list[Example]) -> np.ndarray | None:
    try:
        with resources.files("agent.safety").joinpath(E5_VECTORS).open("rb") as f:
            data = np.load(f, allow_pickle=False)
            stamp, vectors = str(data["digest"]), data["vectors"]
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return None
    if stamp != digest(examples) or len(vectors) != len(examples):
        log.warning("safety: bank.e5.npy is stale (run `python -m agent.safety.bank`); embedding the bank")
        return None
    return vectors.astype(np.float32)


def write_shipped_vectors(embedder: QueryEmbedder, path: Path | None = None) -> Path:
    """Embed the shipped bank with e5 and write ``bank.e5.npy`` beside it."""
    examples = load_examples()
    bank = Bank.build(examples, embedder, name="rebuild")
    target = path or Path(__file__).with_name(E5_VECTORS)
    with target.open("wb") as f:
        np.savez_compressed(f, digest=np.array(digest(examples)), vectors=bank.vectors.astype(np.float16))
    return target


if __name__ == "__main__":  # python -m agent.safety.bank: refresh the shipped vectors
    from memory.embeddings import E5Embeddings

    print(write_shipped_vectors(E5Embeddings()))
