"""The example bank: labelled messages the meaning half of the classifier learns from.

``bank.json`` holds messages written as people write in messengers, each labelled ``self_harm``,
``abuse``, ``minor``, ``injection`` or ``none`` (hard negatives: hyperbole, cooking cuts, grief,
coursework, film titles, adults' children's ages…; and everyday talk, short greetings most of all),
with a tier for the first two. A turn's e5
vector (the one memory search computes anyway) gives two readings:

- a softmax regression over the vector (L2-regularised, classes balanced), trained on the bank
  with scipy's L-BFGS: a label's probability;
- nearest neighbours: for each label, the mean cosine of its ``k`` nearest examples minus that of
  ``none``'s (a margin), and how many of them are imminent (the tier).

Both cost a fraction of a millisecond per turn. They depend on the embedder, so for the bundled e5
they ship precomputed (``bank.e5.npz``: float16 vectors and the regression's weights, stamped with
a digest of the bank's texts); another embedder embeds the bank and trains at start (a minute or
two on two cores). After editing the bank run ``python -m agent.safety.bank``; a test fails while
the shipped file is stale.
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
from scipy.optimize import minimize

log = logging.getLogger(__name__)

LABELS = ("self_harm", "abuse", "minor", "injection")
CLASSES = ("none", *LABELS)
BANK_FILE = "bank.json"
E5_VECTORS = "bank.e5.npz"
# L2 strength 1/C; C=10 and C=100 gave close recall in 5-fold cross-validation on the first bank
# (1,179 examples), and 20 lies between them: not tuned further
REGULARISATION_C = 20.0


class QueryEmbedder(Protocol):
    """What the bank needs of an embedder: e5's query role, in batches (memory's embedder has it)."""

    def query_vectors(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    lang: str
    tier: str | None = None
    kind: str | None = None  # for `none`: everyday talk, or which kind of hard negative


def load_examples(path: Path | None = None) -> list[Example]:
    """The shipped bank (or a dataset in the same format)."""
    raw = (
        path.read_text(encoding="utf-8")
        if path
        else resources.files("agent.safety").joinpath(BANK_FILE).read_text(encoding="utf-8")
    )
    return [
        Example(c["text"], c["label"], c.get("lang", "ru"), c.get("tier"), c.get("kind"))
        for c in json.loads(raw)["cases"]
    ]


def digest(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(e.text.encode("utf-8") + b"\x00")
    return h.hexdigest()[:16]


class Bank:
    """Examples with their unit vectors, the regression over them, and the neighbour margins."""

    def __init__(
        self,
        examples: list[Example],
        vectors: np.ndarray,
        weights: tuple[np.ndarray, np.ndarray] | None = None,
        k: int = 3,
    ) -> None:
        if len(examples) != len(vectors):
            raise ValueError(f"{len(examples)} examples but {len(vectors)} vectors")
        self.examples = examples
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = (vectors / np.maximum(norms, 1e-9)).astype(np.float32)
        self.k = k
        self.labels = np.array([e.label for e in examples])
        self.imminent = np.array([e.tier == "imminent" for e in examples])
        self._rows = {label: np.flatnonzero(self.labels == label) for label in CLASSES}
        self.weights = weights or train_regression(self.vectors, self.labels)

    @classmethod
    def build(cls, examples: list[Example], embedder: QueryEmbedder | None, name: str = "") -> Bank:
        """Vectors and weights from the shipped file when it matches the embedder and the bank,
        else computed (the embedder is needed only then)."""
        if name == "e5" and (shipped := _shipped(examples)) is not None:
            vectors, weights = shipped
            return cls(examples, vectors, weights)
        if embedder is None:
            raise ValueError("the bank's vectors must be computed, and no embedder was given")
        log.info("safety: embedding and learning the %d-example bank for %s", len(examples), name or "?")
        return cls(examples, query_vectors_batched(embedder, [e.text for e in examples]))

    def without(self, drop: np.ndarray) -> Bank:
        """The bank less some rows, retrained (cross-validation: a fold is judged by the rest)."""
        keep = np.setdiff1d(np.arange(len(self.examples)), drop)
        return Bank([self.examples[i] for i in keep], self.vectors[keep], k=self.k)

    def read(self, vector: np.ndarray) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        """Per label: the regression's probability, the neighbour margin, and the share of
        imminent examples among the label's nearest."""
        v = (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)
        w, b = self.weights
        z = v @ w + b
        p = np.exp(z - z.max())
        p /= p.sum()
        sims = self.vectors @ v
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
        probs = {label: float(p[CLASSES.index(label)]) for label in LABELS}
        return probs, {label: top[label] - top["none"] for label in LABELS}, imminent


def query_vectors_batched(embedder: QueryEmbedder, texts: list[str], size: int = 64) -> np.ndarray:
    """Query-role vectors, a batch at a time (the bank, or an evaluation set)."""
    return np.concatenate([embedder.query_vectors(texts[i : i + size]) for i in range(0, len(texts), size)])


def train_regression(
    vectors: np.ndarray, labels: np.ndarray, c: float = REGULARISATION_C
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression over the vectors (classes balanced, L2 with strength 1/c), by L-BFGS."""
    y = np.array([CLASSES.index(str(label)) for label in labels])
    n, d = vectors.shape
    k = len(CLASSES)
    onehot = np.eye(k)[y]
    counts = np.maximum(np.bincount(y, minlength=k), 1)
    weight = (n / (k * counts))[y]
    x = vectors.astype(np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * k].reshape(d, k), theta[d * k :]
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -(weight * np.log(p[np.arange(n), y] + 1e-12)).sum() + 0.5 / c * (w * w).sum()
        g = (p - onehot) * weight[:, None]
        return float(value), np.concatenate([(x.T @ g + w / c).ravel(), g.sum(axis=0)])

    result = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = result.x
    return theta[: d * k].reshape(d, k).astype(np.float32), theta[d * k :].astype(np.float32)


def _shipped(examples: list[Example]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None:
    try:
        with resources.files("agent.safety").joinpath(E5_VECTORS).open("rb") as f:
            data = np.load(f, allow_pickle=False)
            stamp, vectors, w, b = str(data["digest"]), data["vectors"], data["w"], data["b"]
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return None
    if stamp != digest(examples) or len(vectors) != len(examples):
        log.warning("safety: %s is stale (run `python -m agent.safety.bank`); learning the bank", E5_VECTORS)
        return None
    return vectors.astype(np.float32), (w.astype(np.float32), b.astype(np.float32))


def write_shipped(embedder: QueryEmbedder, path: Path | None = None) -> Path:
    """Embed the shipped bank with e5, train the regression, and write ``bank.e5.npz`` beside it."""
    examples = load_examples()
    bank = Bank.build(examples, embedder, name="rebuild")
    target = path or Path(__file__).with_name(E5_VECTORS)
    w, b = bank.weights
    with target.open("wb") as f:
        np.savez_compressed(
            f, digest=np.array(digest(examples)), vectors=bank.vectors.astype(np.float16), w=w, b=b
        )
    return target


if __name__ == "__main__":  # python -m agent.safety.bank: refresh the shipped vectors and weights
    from memory.embeddings import E5Embeddings

    print(write_shipped(E5Embeddings()))
