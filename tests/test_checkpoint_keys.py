"""Conversations are crypto-shredded with the user: each user's checkpoints are encrypted with a key
derived from that user's data key, so after a wipe a copy of the checkpoint database taken before
it (a backup) no longer decrypts that user's threads, while everyone else's still do. On SQLite and
PostgreSQL, through the real companion and LangGraph's own savers; the LLM is the only fake."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from typer.testing import CliRunner

import agent.checkpoint as checkpoint_module
from agent.checkpoint import CIPHER, SQLITE_NAME, ShreddedCheckpointError, open_checkpointer
from dora.cli import app
from dora.config import Settings
from dora.wiring.memory import build_keyring
from testkit.fake_chat import FakeChatModel, scripted
from tests.conftest import POSTGRES_URL
from tests.test_agent import BUBLIK, Script, companion_ctx, reply_of, run, talk

BOB_SAYS = "Я Боб, и у меня живёт черепаха Тортилла."
SUMMARY = "Собеседник рассказал про кота Бублика и свою неделю."


@pytest.fixture
def script() -> Script:
    script = Script()
    script.summary = SUMMARY
    return script


@pytest.fixture
def model(script: Script) -> FakeChatModel:
    return scripted(script)


def _thread(settings: Settings, user: str, persona: str = "dora") -> str:
    return f"{build_keyring(settings).user_key(user)}:{persona}"


async def _read(settings: Settings, where: Path, url: str | None, thread: str) -> dict[str, Any]:
    """The thread's latest values, read from the checkpoint store at ``where`` / ``url`` with the
    live keyring (keys as they are now)."""
    async with open_checkpointer(build_keyring(settings), where, url) as saver:
        found = await saver.aget_tuple({"configurable": {"thread_id": thread}})
        assert found is not None, "the backup holds the thread"
        return dict(found.checkpoint["channel_values"])


async def _converse(settings: Settings, embeddings, model, alice: str, bob: str) -> None:
    async with companion_ctx(settings, embeddings, model) as c:
        for n in range(3):  # a small token budget: the thread gets a rolling summary
            await talk(c, f"{BUBLIK} История номер {n}: вчера ходил в парк.", user=alice)
        await talk(c, "Привет", user=alice, persona="mark")
        await talk(c, BOB_SAYS, user=bob)
        await c.drain()


async def _wipe(settings: Settings, embeddings, model, user: str) -> dict[str, Any]:
    async with companion_ctx(settings, embeddings, model) as c:
        return await c.wipe_user(user)


def test_a_backup_of_sqlite_checkpoints_is_shredded_for_the_wiped_user_only(
    tmp_path: Path, embeddings, model, script
) -> None:
    settings = Settings(data_dir=tmp_path / "data", history_token_budget=60)
    run(_converse(settings, embeddings, model, "alice", "bob"))
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in (SQLITE_NAME, f"{SQLITE_NAME}-wal"):
        if (settings.data_dir / name).exists():
            shutil.copy2(settings.data_dir / name, backup / name)

    alice, bob = _thread(settings, "alice"), _thread(settings, "bob")
    before = run(_read(settings, backup, None, alice))
    assert before["summary"] == SUMMARY  # the backup reads while the key lives

    report = run(_wipe(settings, embeddings, model, "alice"))
    assert report["threads"] == 2 and report["key_shredded"]

    with pytest.raises(ShreddedCheckpointError):
        run(_read(settings, backup, None, alice))
    with pytest.raises(ShreddedCheckpointError):
        run(_read(settings, backup, None, _thread(settings, "alice", "mark")))
    bobs = run(_read(settings, backup, None, bob))
    assert [str(m.content) for m in bobs["messages"] if m.type == "human"] == [BOB_SAYS]

    with sqlite3.connect(backup / SQLITE_NAME) as db:
        rows = db.execute(
            "select type, checkpoint from checkpoints where thread_id = ? "
            "union all select type, value from writes where thread_id = ?",
            (alice, alice),
        ).fetchall()
    assert len(rows) > 3  # alice's conversation is still in the backup, as ciphertext
    assert {t.split("+", 1)[1] for t, _ in rows} == {CIPHER}
    for _, blob in rows:
        assert blob.startswith(bytes.fromhex(alice.split(":")[0]))  # a blob names its user's key
        assert "Бублик".encode() not in blob


@pytest.fixture
def backup_schema() -> Iterator[str]:
    """An empty schema to copy checkpoint tables into (a backup), dropped afterwards."""
    import psycopg

    schema = f"b_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


CHECKPOINT_TABLES = ("checkpoint_migrations", "checkpoints", "checkpoint_blobs", "checkpoint_writes")


def test_a_backup_of_postgres_checkpoints_is_shredded_for_the_wiped_user_only(
    tmp_path: Path, embeddings, model, script, postgres_schema_url: str, backup_schema: str
) -> None:
    """The backup is what `pg_dump -t 'checkpoint*'` would hold: the checkpoint tables, not the key
    table (see the README on backups)."""
    import psycopg

    settings = Settings(data_dir=tmp_path / "data", postgres_url=postgres_schema_url, history_token_budget=60)
    alice_id, bob_id = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    run(_converse(settings, embeddings, model, alice_id, bob_id))
    with psycopg.connect(postgres_schema_url, autocommit=True) as conn:
        for table in CHECKPOINT_TABLES:
            conn.execute(f'CREATE TABLE "{backup_schema}".{table} AS TABLE {table}')
        plain = conn.execute(
            "select convert_to(checkpoint::text || metadata::text, 'UTF8') from checkpoints"
        ).fetchall()
    # PostgreSQL's saver keeps plain values (the summary, the user id) inline in JSONB: sealed here
    assert plain
    for (row,) in plain:
        assert SUMMARY.encode() not in bytes(row) and alice_id.encode() not in bytes(row)
    backup_url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={backup_schema}')}"

    alice, bob = _thread(settings, alice_id), _thread(settings, bob_id)
    assert run(_read(settings, tmp_path, backup_url, alice))["summary"] == SUMMARY
    run(_wipe(settings, embeddings, model, alice_id))

    with pytest.raises(ShreddedCheckpointError):
        run(_read(settings, tmp_path, backup_url, alice))
    bobs = run(_read(settings, tmp_path, backup_url, bob))
    assert bobs["user_id"] == bob_id
    assert [str(m.content) for m in bobs["messages"] if m.type == "human"] == [BOB_SAYS]


def _legacy_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints as DORA wrote them before per-user keys: LangGraph's EncryptedSerializer with one
    key derived from the master key, and LangGraph's savers as they come."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    monkeypatch.setattr(
        checkpoint_module,
        "checkpoint_serde",
        lambda keyring: EncryptedSerializer.from_pycryptodome_aes(key=keyring.derive("checkpoints")),
    )
    monkeypatch.setattr(checkpoint_module, "UserKeyedSqliteSaver", checkpoint_module.AsyncSqliteSaver)
    monkeypatch.setattr(checkpoint_module, "_postgres_saver", lambda: AsyncPostgresSaver)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_checkpoints_written_with_the_old_global_key_still_read(
    tmp_path: Path, embeddings, model, script, store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_schema_url") if store == "postgres" else None
    settings = Settings(data_dir=tmp_path / "data", postgres_url=url, history_token_budget=60)
    user = f"old-{uuid.uuid4().hex[:8]}"

    async def before() -> list[str]:
        async with companion_ctx(settings, embeddings, model) as c:
            for n in range(3):
                await talk(c, f"{BUBLIK} История номер {n}.", user=user)
            await c.drain()
            assert (await c.graph.aget_state(c._config(user, "dora"))).values.get("summary") == SUMMARY
            return [str(m.content) for m in await c.messages(user, "dora")]

    with pytest.MonkeyPatch.context() as patch:
        _legacy_checkpoints(patch)
        written = run(before())
    assert written and _ciphers(settings, url) == {"aes"}

    async def after() -> tuple[list[str], str, dict[str, Any]]:
        async with companion_ctx(settings, embeddings, model) as c:
            read = [str(m.content) for m in await c.messages(user, "dora")]
            reply = reply_of(await talk(c, "Как зовут моего кота?", user=user))
            return read, reply, (await c.graph.aget_state(c._config(user, "dora"))).values

    read, reply, values = run(after())
    assert read == written  # the old thread, read with the old key
    assert reply and values["summary"] == SUMMARY  # a value the old saver kept inline is not lost
    assert SUMMARY in str(script.prompts[-1][0].content)
    assert [str(m.content) for m in values["messages"]][-2:] == ["Как зовут моего кота?", reply]
    assert _ciphers(settings, url) == {"aes", CIPHER}  # old rows read as they are; new ones per user


def _ciphers(settings: Settings, url: str | None) -> set[str]:
    if url is None:
        with sqlite3.connect(settings.data_dir / SQLITE_NAME) as db:
            types = db.execute("select type from checkpoints union select type from writes").fetchall()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            types = conn.execute(
                "select type from checkpoint_blobs where blob is not null "
                "union select type from checkpoint_writes"
            ).fetchall()
    return {t.split("+", 1)[1] for (t,) in types if t and "+" in t}


def test_rotating_the_master_key_keeps_conversations_readable(
    tmp_path: Path, embeddings, model, script, monkeypatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("DORA_DATA_DIR", str(data))
    monkeypatch.delenv("DORA_SECRET_KEY", raising=False)
    settings = Settings(data_dir=data)

    async def first() -> None:
        async with companion_ctx(settings, embeddings, model) as c:
            await talk(c, BUBLIK, user="rot")

    run(first())
    old = (data / "secret.key").read_text().strip()
    done = CliRunner().invoke(app, ["keys", "rotate"])
    assert done.exit_code == 0, done.output
    assert (data / "secret.key").read_text().strip() != old

    async def second() -> list[Any]:
        async with companion_ctx(Settings(data_dir=data), embeddings, model) as c:
            await talk(c, "Как зовут моего кота?", user="rot")
            return await c.messages("rot", "dora")

    messages = run(second())
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]
    assert str(messages[0].content) == BUBLIK
    assert _ciphers(settings, None) == {CIPHER}
