"""The memory engine on real Chroma (embedded and a `chroma run` server) with the real e5 embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.models import Memory, MemoryKind
from memory.store import EpisodeIn, MemoryStore


def _bytes_in_tree(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_episode_is_found_by_paraphrase_and_inflection(store: MemoryStore) -> None:
    store.add_episodes(
        "anna",
        [
            EpisodeIn("Мой кот Бублик любит сметану"),
            EpisodeIn("Работаю медсестрой в областной больнице"),
            EpisodeIn("Вчера ходила в кино на новый фильм"),
        ],
    )
    top = store.search("anna", "как там мой котик?", k=1)
    assert top[0].memory.text == "Мой кот Бублик любит сметану"
    top = store.search("anna", "кем я работаю", k=1)
    assert "медсестрой" in top[0].memory.text
    parts = top[0].parts
    assert parts.dense > 0 and 0 <= parts.recency <= 1 and parts.total == pytest.approx(top[0].score)


def test_users_never_see_each_other(store: MemoryStore) -> None:
    store.add_episode("u1", "Моего кота зовут Бублик")
    store.add_episode("u2", "У меня собака Рекс")
    assert [r.memory.text for r in store.search("u2", "Бублик кот", k=10)] == ["У меня собака Рекс"]
    assert all(r.memory.user_id == "u1" for r in store.search("u1", "собака Рекс", k=10))
    assert store.search("nobody", "Бублик") == []
    assert store.get("u2", store.list("u1")[0].id) is None


def test_fact_update_keeps_id_and_history_and_invalidation_is_hidden_by_default(store: MemoryStore) -> None:
    old = store.add_fact("u", "Пользователь живёт в Москве", category="personal", importance=6)
    new = store.add_fact("u", "Пользователь переехал в Тбилиси", category="personal", importance=7)
    store.invalidate_fact("u", old.id, superseded_by=new.id)
    found = store.search("u", "в каком городе я живу?", k=5)
    assert [r.memory.id for r in found] == [new.id]
    with_invalid = store.search("u", "в каком городе я живу?", k=5, include_invalid=True)
    assert {r.memory.id for r in with_invalid} == {old.id, new.id}
    stale = store.get("u", old.id)
    assert stale is not None and stale.expired_at is not None and stale.invalid_at is not None
    assert stale.superseded_by == new.id and not stale.is_valid

    updated = store.update_fact("u", new.id, "Пользователь переехал в Тбилиси в марте")
    assert updated.id == new.id
    again = store.get("u", new.id)
    assert again is not None
    assert again.text == "Пользователь переехал в Тбилиси в марте"
    assert [h.text for h in again.history] == ["Пользователь переехал в Тбилиси"]


def test_two_times_and_rows_written_before_them(store: MemoryStore) -> None:
    said = datetime(2026, 3, 20, 12, tzinfo=UTC)
    plan = store.add_episode("u", "в мае переезжаю к сестре в Казань", at=said, message_id="m1")
    plain = store.add_episode("u", "купила новые кроссовки", at=said, message_id="m2")
    assert plan.created_at == said and plan.valid_at == datetime(2026, 5, 1, tzinfo=UTC)
    assert plain.valid_at == said and plain.invalid_at is None and plain.expired_at is None
    assert store.get("u", plan.id).valid_at == plan.valid_at  # type: ignore[union-attr]

    # a row as the engine wrote it before: valid_from / invalidated, no valid_at, invalid_at, expired_at
    cipher = store.keyring.cipher("u")
    assert cipher is not None
    idx = store._index(cipher.user_key)
    meta = dict(idx.metas[idx.position(plain.id)])  # type: ignore[index]
    for key in ("valid_at", "invalid_at", "expired_at", "supersedes"):
        del meta[key]
    retired = said + timedelta(days=3)
    meta.update(valid_from=said.timestamp(), invalidated=retired.timestamp(), valid=False)
    store.chroma.update_metadata(cipher.user_key, [plain.id], [meta])
    store._indexes.clear()
    old = store.get("u", plain.id)
    assert old is not None and old.valid_at == said
    assert old.invalid_at == old.expired_at == retired and not old.is_valid
    assert [m.id for m in store.list("u", kind=MemoryKind.EPISODE)] == [plan.id]

    exported = old.model_dump(mode="json")  # an export from before the two times loads too
    exported["valid_from"], exported["invalidated_at"] = exported.pop("valid_at"), exported.pop("expired_at")
    del exported["invalid_at"]
    again = Memory.model_validate(exported)
    assert again.valid_at == said and again.invalid_at == again.expired_at == retired


def test_invalidation_keeps_when_it_ended_apart_from_when_it_was_retired(store: MemoryStore) -> None:
    old = store.add_fact("u", "Пользователь работает курьером", valid_at=datetime(2026, 1, 5, tzinfo=UTC))
    new = store.add_fact("u", "Пользователь работает водителем", valid_at=datetime(2026, 3, 9, tzinfo=UTC))
    retired_at = datetime(2026, 3, 20, tzinfo=UTC)
    stale = store.invalidate_fact("u", old.id, superseded_by=new.id, at=retired_at)
    assert stale.invalid_at == new.valid_at and stale.expired_at == retired_at
    assert stale.holds_at(datetime(2026, 3, 1, tzinfo=UTC))
    assert not stale.holds_at(datetime(2026, 3, 10, tzinfo=UTC))


def test_an_episode_is_linked_at_write_time_to_the_older_one_it_restates(store: MemoryStore) -> None:
    start = datetime(2026, 1, 21, tzinfo=UTC)
    home = store.add_episode("u", "живу с мамой пока, на фестивальном", at=start, message_id="a")
    store.add_episode("u", "у меня две кошки, шпрота и килька, обе с улицы", at=start, message_id="b")
    moved = store.add_episode(
        "u",
        "сняла квартиру на гидрострое, съехала от мамы наконец",
        at=start + timedelta(days=70),
        message_id="c",
    )
    assert moved.supersedes == [home.id]
    stored = store.get("u", moved.id)
    assert stored is not None and stored.supersedes == [home.id]
    assert store.restated_messages("u", ["c"]) == {"a"}  # what reconciliation shows the LLM
    meta = store._index(store.keyring.user_key("u")).metas[0]
    assert "мам" not in json.dumps(meta, ensure_ascii=False)  # links are ids, never words


def test_a_question_about_a_time_finds_what_held_then(store: MemoryStore) -> None:
    march = datetime(2026, 3, 20, 12, tzinfo=UTC)
    store.add_episodes(
        "u",
        [
            EpisodeIn("в мае переезжаем в химки", at=march, message_id="plan"),
            EpisodeIn("переезжаем, коробки уже везде", at=march + timedelta(days=40), message_id="x"),
            EpisodeIn(
                "сегодня опять обсуждали с пацанами, как переезжаем",
                at=march + timedelta(days=41),
                message_id="y",
            ),
        ],
    )
    asked = datetime(2026, 4, 30, tzinfo=UTC)
    top = store.search("u", "что у меня в мае?", k=1, now=asked)
    assert top[0].memory.source_message_ids == ["plan"]
    when = store.search("u", "когда мы переезжаем?", k=1, now=asked)
    assert when[0].memory.source_message_ids == ["plan"]  # the one that names a time


def test_persona_scope(store: MemoryStore) -> None:
    store.add_fact("u", "Пользователь любит джаз")  # shared
    store.add_fact("u", "Пользователь называет Алису солнышком", persona="alice")
    store.add_fact("u", "Пользователь репетирует разговор с начальником", persona="coach")
    texts = {r.memory.text for r in store.search("u", "что пользователь", k=10, persona="alice")}
    assert "Пользователь репетирует разговор с начальником" not in texts
    assert {"Пользователь любит джаз", "Пользователь называет Алису солнышком"} <= texts


def test_newer_episode_wins_when_both_fit_equally(store: MemoryStore) -> None:
    start = datetime(2026, 1, 10, tzinfo=UTC)
    store.add_episode("u", "Я живу в Москве", at=start)
    store.add_episode("u", "Я живу в Казани", at=start + timedelta(days=60))
    top = store.search("u", "где я живу?", k=2, now=start + timedelta(days=61))
    assert top[0].memory.text == "Я живу в Казани"
    assert top[0].parts.recency > top[1].parts.recency


def test_a_later_word_on_the_same_subject_follows_its_parent(store: MemoryStore) -> None:
    start = datetime(2026, 1, 10, tzinfo=UTC)
    store.add_episodes(
        "u",
        [
            EpisodeIn("мой парень тимур обещал приехать на выходных", at=start),
            EpisodeIn("на работе завал, начальник опять орёт", at=start + timedelta(days=3)),
            EpisodeIn("купила новые кроссовки, бегаю по утрам", at=start + timedelta(days=9)),
            EpisodeIn("мама зовёт на дачу в субботу", at=start + timedelta(days=15)),
            EpisodeIn("мы с тимуром расстались, устала ждать", at=start + timedelta(days=30)),
        ],
    )
    asked = start + timedelta(days=31)
    now = [r.memory.text for r in store.search("u", "у меня сейчас есть парень?", k=2, now=asked)]
    assert now == ["мы с тимуром расстались, устала ждать", "мой парень тимур обещал приехать на выходных"]
    then = [r.memory.text for r in store.search("u", "мой парень обещал приехать?", k=1, now=asked)]
    assert then == ["мой парень тимур обещал приехать на выходных"]


def test_text_is_encrypted_at_rest_and_wipe_leaves_nothing(make_store, backend, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = make_store(data)
    store.add_episode("tg:42", "Мой кот Бублик любит сметану", message_id="m1")
    fact = store.add_fact("tg:42", "У пользователя кот Бублик", category="pets", importance=8)
    store.update_fact("tg:42", fact.id, "У пользователя рыжий кот Бублик")
    store.search("tg:42", "Бублик")
    store.flush()
    assert _bytes_in_tree(data, "Бублик".encode()) == []
    assert _bytes_in_tree(data, b"tg:42") == []

    exported = store.export_user("tg:42")
    json.dumps(exported)
    assert exported["facts"][0]["text"] == "У пользователя рыжий кот Бублик"
    assert exported["facts"][0]["history"][0]["text"] == "У пользователя кот Бублик"
    assert exported["episodes"][0]["source_message_ids"] == ["m1"]

    vectors = store.chroma.load(store.keyring.user_key("tg:42")).vectors
    report = store.wipe_user("tg:42")
    assert report.rows_deleted == 2 and report.key_shredded
    if backend == "embedded":  # a Chroma server's disk is its own
        for vector in vectors:  # Chroma keeps deleted segments and freed SQLite pages unless purged
            assert _bytes_in_tree(data, vector[:8].tobytes()) == []
    assert store.search("tg:42", "Бублик") == [] and store.list("tg:42", include_invalid=True) == []
    assert not list((data / "keys").glob("*.key"))
    again = store.wipe_user("tg:42")
    assert again.rows_deleted == 0 and not again.collection_deleted
    # a fresh process sees nothing either
    assert make_store(data).list("tg:42", include_invalid=True) == []


@pytest.mark.parametrize("mode", ["noscrub", "scrub"])
def test_freed_memory_never_reaches_index_files(mode: str, tmp_path: Path) -> None:
    """hnswlib writes its buffers whole; without the scrub, freed "user text" lands in them."""
    probe = Path(__file__).with_name("heap_probe.py")
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}  # Chroma's threads share the littered heap
    done = subprocess.run(
        [sys.executable, str(probe), str(tmp_path / "chroma"), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    leaked = json.loads(done.stdout.strip().splitlines()[-1])
    if mode == "noscrub":
        if not leaked:
            pytest.skip("this allocator did not hand the freed blocks to Chroma: nothing to show")
        assert any(p.endswith("data_level0.bin") for p in leaked)  # the probe reproduces the leak
    else:
        assert leaked == []


def test_pending_episodes_until_marked(store: MemoryStore) -> None:
    a = store.add_episode("u", "Сегодня купила велосипед")
    b = store.add_episode("u", "Катаюсь каждый вечер", extracted=True)
    assert [m.id for m in store.pending_episodes("u")] == [a.id]
    store.mark_extracted("u", [a.id])
    assert store.pending_episodes("u") == []
    assert store.get("u", b.id) is not None


def test_last_access_is_written_once_an_hour_not_every_search(store: MemoryStore) -> None:
    weeks_ago = datetime.now(UTC) - timedelta(weeks=3)
    cat = store.add_episode("u", "Мой кот Бублик любит сметану", at=weeks_ago)
    writes: list[int] = []
    update = store.chroma.update_metadata
    store.chroma.update_metadata = lambda key, ids, *a, **kw: (
        writes.append(len(ids)) or update(key, ids, *a, **kw)
    )
    store.search("u", "как там кот?")
    store.flush()
    seen = store.get("u", cat.id)
    assert seen is not None and seen.last_accessed_at > datetime.now(UTC) - timedelta(minutes=1)
    assert writes == [1]
    for _ in range(3):  # the same memory again within the hour: nothing to write
        store.search("u", "кот Бублик")
        store.flush()
    assert writes == [1]


def test_a_second_worker_sees_writes(make_store, tmp_path: Path) -> None:
    first = make_store(tmp_path / "data", memory_cache_check_s=0.0)
    second = make_store(tmp_path / "data", memory_cache_check_s=0.0)
    assert second.search("u", "кот") == []
    first.add_episode("u", "Моего кота зовут Бублик")
    assert [r.memory.text for r in second.search("u", "кот")] == ["Моего кота зовут Бублик"]
    fact = first.add_fact("u", "У пользователя кот Бублик")
    first.invalidate_fact("u", fact.id)
    assert {r.memory.kind for r in second.search("u", "кот")} == {MemoryKind.EPISODE}


def test_delete_one_memory(store: MemoryStore) -> None:
    keep = store.add_fact("u", "Пользователь любит горы")
    gone = store.add_fact("u", "Пользователь боится пауков")
    assert store.delete("u", gone.id) is True
    assert store.delete("u", gone.id) is False
    assert [m.id for m in store.list("u")] == [keep.id]
    assert store.count("u") == {"facts": 1, "episodes": 0, "invalidated": 0}


def test_cache_of_users_is_bounded(make_store) -> None:
    store = make_store(memory_cached_users=2)
    for n in range(4):
        store.add_episode(f"user{n}", f"сообщение номер {n} про кота")
    store.search("user0", "кот")
    store.flush()
    assert len(store._indexes) == 2
    assert [m.text for m in store.list("user1")] == ["сообщение номер 1 про кота"]  # reloaded from Chroma


def test_threads_on_many_users_keep_every_memory_and_isolation(make_store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = make_store(memory_cached_users=3)

    def work(n: int) -> None:
        user = f"user{n % 6}"
        store.add_episode(user, f"{user}: сообщение номер {n} про кота")
        for result in store.search(user, "кот", k=20):
            assert result.memory.user_id == user and result.memory.text.startswith(f"{user}:")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(36)))
    store.flush()
    for u in range(6):
        texts = sorted(m.text for m in store.list(f"user{u}"))
        assert texts == sorted(f"user{u}: сообщение номер {n} про кота" for n in range(u, 36, 6))


def test_collections_persist_their_vector_index_every_sync_threshold_writes(tmp_path: Path) -> None:
    """New collections persist their HNSW segment every SYNC_THRESHOLD writes, not Chroma's 1000;
    one made before gets the setting on its next write, and keeps its rows."""
    import numpy as np

    from memory.chroma_store import SYNC_THRESHOLD, ChromaStore

    chroma = ChromaStore(path=tmp_path / "chroma")
    vectors = np.eye(4, dtype=np.float32)
    client = chroma._connected()

    def threshold(key: str) -> int:
        col = client.get_collection("dora_u_" + key, embedding_function=None)
        return col.configuration_json["hnsw"]["sync_threshold"]

    chroma.upsert("new", ["a"], vectors[:1], [{"kind": "episode"}])
    assert threshold("new") == SYNC_THRESHOLD
    old = client.create_collection(
        "dora_u_old", embedding_function=None, metadata={"hnsw:space": "cosine", "rev": 0}
    )
    old.add(ids=["x"], embeddings=vectors[1:2], metadatas=[{"kind": "episode"}])
    assert threshold("old") == 1000  # Chroma's default
    chroma.upsert("old", ["y"], vectors[2:3], [{"kind": "episode"}])
    assert threshold("old") == SYNC_THRESHOLD
    rows = chroma.load("old")
    assert sorted(rows.ids) == ["x", "y"] and rows.vectors.shape == (2, 4)
