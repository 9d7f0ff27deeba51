"""Embedders: bundled e5 keeps query and passage roles apart; a sentence-transformers folder loads offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dora.config import Settings
from dora.wiring.memory import build_memory
from memory.embeddings import (
    E5Embeddings,
    EmbeddingModelMissing,
    RecentQueries,
    SentenceTransformerEmbeddings,
    VectorEmbeddings,
    make_embeddings,
)


class Counting(VectorEmbeddings):
    """The real e5, counting the texts it embeds in each role."""

    def __init__(self, inner: VectorEmbeddings) -> None:
        self.inner, self.dim, self.space = inner, inner.dim, inner.space
        self.queries: list[str] = []
        self.passages: list[str] = []

    def query_vector(self, text: str) -> np.ndarray:
        return self.query_vectors([text])[0]

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        self.queries += texts
        return self.inner.query_vectors(texts)

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        self.passages += texts
        return self.inner.passage_vectors(texts)


def test_e5_roles_and_langchain_interface(embeddings: E5Embeddings) -> None:
    q = embeddings.query_vector("как зовут моего кота?")
    p = embeddings.passage_vectors(["как зовут моего кота?"])[0]
    assert q.shape == (384,) and abs(float(np.linalg.norm(q)) - 1) < 1e-3
    assert not np.allclose(q, p)  # "query: " and "passage: " prefixes differ
    docs = embeddings.embed_documents(["Мой кот Бублик", "Я работаю врачом"])
    query = embeddings.embed_query("питомец")
    assert len(docs) == 2 and len(query) == 384
    assert np.dot(docs[0], query) > np.dot(docs[1], query)


def _tiny_sentence_transformer(folder: Path) -> Path:
    """A random 2-layer BERT with a small word-piece vocabulary, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted(set("мой кот бублик любит сметану я работаю врачом в больнице питомец зовут".split()))  # noqa: SIM905
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *words,
        *[f"##{c}" for c in "абвгдежзиклмнопрстуфхцчшщыьэюя"],
    ]
    raw = folder / "raw"
    raw.mkdir(parents=True)
    (raw / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    BertTokenizerFast(vocab_file=str(raw / "vocab.txt"), do_lower_case=True).save_pretrained(raw)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(raw)
    transformer = models.Transformer(str(raw), max_seq_length=32)
    model = SentenceTransformer(modules=[transformer, models.Pooling(32, pooling_mode="mean")], device="cpu")
    out = folder / "tiny-st"
    model.save(str(out))
    return out


def test_e5_batched_queries_match_single_ones(embeddings: E5Embeddings) -> None:
    texts = ["как зовут моего кота?", "I run every morning"]
    batch = embeddings.query_vectors(texts)
    assert np.allclose(batch, np.stack([embeddings.query_vector(t) for t in texts]), atol=1e-5)


def test_recent_queries_embed_a_text_once_until_it_expires(embeddings: E5Embeddings) -> None:
    inner = Counting(embeddings)
    cache = RecentQueries(inner, size=2, ttl_s=60)
    first = cache.query_vector("кот Бублик")
    again = cache.query_vectors(["кот Бублик", "собака Жучка"])  # one hit, one miss: one call
    assert inner.queries == ["кот Бублик", "собака Жучка"]
    assert np.array_equal(first, again[0])
    cache.query_vector("третий текст")  # size 2: the oldest ("кот Бублик") is dropped
    cache.query_vector("кот Бублик")
    assert inner.queries.count("кот Бублик") == 2
    cache.forget()
    cache.query_vector("собака Жучка")
    assert inner.queries.count("собака Жучка") == 2
    stale = RecentQueries(inner, ttl_s=0.0)
    stale.query_vector("x")
    stale.query_vector("x")
    assert inner.queries.count("x") == 2


def test_a_chat_turn_embeds_the_message_once(tmp_path: Path, embeddings: E5Embeddings) -> None:
    """The turn searches with the user's message, then stores it as an episode (query role, so
    the vector just made serves): one embedding, not two."""
    inner = Counting(embeddings)
    store = build_memory(Settings(data_dir=tmp_path / "data"), RecentQueries(inner))
    store.add_episode("u1", "У меня рыжий кот Бублик")
    inner.queries.clear()
    message = "Как там мой кот поживает?"
    assert store.search("u1", message)[0].memory.text == "У меня рыжий кот Бублик"
    store.add_episode("u1", message)
    assert inner.queries == [message] and inner.passages == []
    found = store.search("u1", "кот Бублик", k=2)
    assert {r.memory.text for r in found} == {"У меня рыжий кот Бублик", message}


def test_sentence_transformers_folder_by_setting(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="the st extra is not installed")
    folder = _tiny_sentence_transformer(tmp_path)
    embedder = make_embeddings(str(folder))
    assert isinstance(embedder, SentenceTransformerEmbeddings) and embedder.dim == 32
    vectors = embedder.passage_vectors(["мой кот бублик", "я работаю врачом"])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)

    store = build_memory(Settings(data_dir=tmp_path / "data", embeddings_model=str(folder)))
    store.add_episode("u", "мой кот бублик любит сметану")
    store.add_episode("u", "я работаю врачом в больнице")
    assert store.search("u", "кот бублик", k=1)[0].memory.text == "мой кот бублик любит сметану"


def test_missing_model_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelMissing, match="DORA_EMBEDDINGS_MODEL"):
        make_embeddings(str(tmp_path / "nope"))
