"""Bad input gets a clear error or is stored safely; nothing is lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dora.config import Settings
from dora.wiring.memory import build_memory
from memory.chroma_store import StoreUnavailableError
from memory.crypto import CorruptKeyError, DecryptionError, generate_key_text
from memory.text import EmptyTextError


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01\x1f", "\u200b\u200f"])
def test_empty_text_is_refused_with_a_clear_error(store, text: str) -> None:
    with pytest.raises(EmptyTextError, match="empty"):
        store.add_episode("u", text)
    with pytest.raises(EmptyTextError):
        store.search("u", text)
    assert store.list("u") == []


def test_huge_text_is_stored_whole_and_still_found(store) -> None:
    body = "Мой кот Бублик любит сметану. " + "Просто длинный текст без смысла. " * 3200
    assert len(body.encode()) > 100_000
    memory = store.add_episode("u", body)
    assert store.get("u", memory.id).text == body.strip()
    assert store.search("u", "Бублик сметана", k=1)[0].memory.id == memory.id


def test_emoji_mixed_language_and_control_characters(store) -> None:
    emoji = store.add_episode("u", "🥰🥰🐈")
    mixed = store.add_episode("u", "завтра deadline по project Phoenix, wish me luck")
    dirty = store.add_episode("u", "кот\x00 Бублик\x07 спит\u202e")
    assert store.get("u", emoji.id).text == "🥰🥰🐈"
    assert store.get("u", dirty.id).text == "кот Бублик спит"
    assert store.search("u", "Phoenix deadline", k=1)[0].memory.id == mixed.id
    assert store.search("u", "когда у меня дедлайн по проекту?", k=1)[0].memory.id == mixed.id


def test_user_id_with_path_characters_stays_inside_the_data_dir(make_store, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = make_store(data)
    evil = "../../etc/passwd\x00/../" + "я" * 300
    store.add_episode(evil, "секрет")
    assert store.search(evil, "секрет")[0].memory.text == "секрет"
    written = {p.resolve() for p in tmp_path.rglob("*")}
    assert all(str(p).startswith(str(tmp_path.resolve())) for p in written)
    assert not any("passwd" in p.name for p in written)
    with pytest.raises(ValueError, match="user id"):
        store.add_episode("", "текст")


def test_corrupt_or_wrong_key(tmp_path: Path, embeddings) -> None:
    data = tmp_path / "data"
    store = build_memory(Settings(data_dir=data), embeddings)
    store.add_episode("u", "Мой кот Бублик")
    key_file = data / "secret.key"
    assert os.stat(key_file).st_mode & 0o777 == 0o600

    key_file.write_text("not a key at all")
    with pytest.raises(CorruptKeyError, match=r"secret\.key"):
        build_memory(Settings(data_dir=data), embeddings)
    with pytest.raises(CorruptKeyError, match="DORA_SECRET_KEY"):
        build_memory(Settings(data_dir=data, secret_key="c2hvcnQ="), embeddings)
    with pytest.raises(DecryptionError, match="DORA_SECRET_KEY"):
        build_memory(Settings(data_dir=data, secret_key=generate_key_text()), embeddings)
    key_file.unlink()  # lost: an error, not a new key that would orphan the data
    with pytest.raises(CorruptKeyError, match="missing"):
        build_memory(Settings(data_dir=data), embeddings)
    assert not key_file.exists()


def test_damaged_user_key_file_is_named(tmp_path: Path, embeddings) -> None:
    store = build_memory(Settings(data_dir=tmp_path), embeddings)
    store.add_episode("u", "текст")
    key = next((tmp_path / "keys").glob("*.key"))
    key.write_bytes(b"\0" * 60)
    with pytest.raises(DecryptionError, match="keys/"):
        build_memory(Settings(data_dir=tmp_path), embeddings).search("u", "текст")


def test_chroma_server_down_is_a_clear_error_and_a_retry_later_succeeds(tmp_path: Path, embeddings) -> None:
    from tests.conftest import ChromaServer

    server = ChromaServer(tmp_path / "chroma")
    server.start()
    try:
        settings = Settings(data_dir=tmp_path / "data", chroma_url=server.url)
        store = build_memory(settings, embeddings)
        store.add_episode("u", "Первое сообщение про кота Бублика")
        server.stop()
        with pytest.raises(StoreUnavailableError, match="DORA_CHROMA_URL"):
            store.add_episode("u", "Второе сообщение, пока сервер лежит")
        server.start_on_same_port()
        store.add_episode("u", "Второе сообщение, пока сервер лежит")
        texts = [m.text for m in build_memory(settings, embeddings).list("u")]
        assert texts == ["Первое сообщение про кота Бублика", "Второе сообщение, пока сервер лежит"]
    finally:
        server.stop()


def test_chroma_server_absent_at_start(tmp_path: Path, embeddings) -> None:
    from tests.conftest import free_port

    store = build_memory(
        Settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}"), embeddings
    )
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        store.add_episode("u", "кот")
