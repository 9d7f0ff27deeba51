"""`dora bench bot`: the real bot under a small load through the loopback Bot API server.

Speed is what the command reports, not what these tests assert (they run on any machine): here,
every message is answered exactly once, the figures have their documented shape, and the counting
of lost and duplicated replies counts what it says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bot import Chat, Crowd, Timing, bench_postgres_url, bench_redis_url, run_bot_bench, summarize
from dora.config import Settings
from testkit.botapi import BotAPIServer, Call

KEYS = {"turns_per_s", "p50_ms", "p95_ms", "p99_ms", "lost", "duplicated"}


def test_small_run_answers_every_message_once(tmp_path: Path) -> None:
    seen: list[str] = []
    result = run_bot_bench(
        Settings(data_dir=tmp_path / "data"), users=3, messages=2, llm_latency_s=0.05, log=seen.append
    )
    assert result.keys() >= KEYS
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["unexpected"] == 0
    assert (result["users"], result["messages"], result["turns"]) == (3, 2, 6)
    assert result["turns_per_s"] > 0 and result["bot_cpu_s"] > 0
    # a reply can't come sooner than the model's latency
    assert 50 <= result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert not (tmp_path / "data").exists()  # the bench runs in a throwaway data dir
    assert any("onboarding" in line for line in seen)


def _servers_problem() -> str | None:
    """Why the scaled setup cannot run here (PostgreSQL or Redis not reachable), or None."""
    import psycopg
    import redis

    try:
        with psycopg.connect(bench_postgres_url(), connect_timeout=2):
            pass
    except Exception as exc:
        return f"PostgreSQL (DORA_BENCH_POSTGRES_URL) is not reachable: {type(exc).__name__}"
    try:
        redis.Redis.from_url(bench_redis_url(), socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis (DORA_BENCH_REDIS_URL) is not reachable: {type(exc).__name__}"
    return None


def test_scaled_setup_answers_every_message_once(tmp_path: Path) -> None:
    """Two webhook workers on one port, PostgreSQL, Redis (the bench's database, emptied) and a
    Chroma server: every message answered once, whichever worker took it."""
    if problem := _servers_problem():
        pytest.skip(problem)
    result = run_bot_bench(
        Settings(data_dir=tmp_path / "data"), users=2, messages=2, llm_latency_s=0.05, setup="scaled"
    )
    assert result["setup"] == "scaled"
    assert (result["lost"], result["duplicated"], result["unexpected"], result["turns"]) == (0, 0, 0, 4)
    assert result["bot_cpu_s"] > 0
    assert not (tmp_path / "data").exists()


def _reply(chat_id: int, text: str) -> Call:
    result = {"message_id": 1, "chat": {"id": chat_id, "type": "private"}, "date": 0, "text": text}
    return Call("sendMessage", {"chat_id": chat_id, "text": text}, response={"ok": True, "result": result})


def test_lost_late_duplicated_and_unexpected_are_counted() -> None:
    users = Crowd(BotAPIServer(), 1)
    try:
        [chat] = users.chats.values()
        chat.talking = True
        chat.sent_at = {0: 100.0, 1: 101.0, 2: 102.0, 3: 103.0}
        for at, text in ((100.5, "Ответ на: привет #0"), (100.6, "Ответ на: привет #0"), (101.2, "Упс")):
            call = _reply(chat.user_id, text)
            call.at = at
            chat.record(call)
        late = _reply(chat.user_id, "Ответ на: как дела? #2")
        late.at = 102.0 + 40  # after the timeout: lost, and late
        chat.record(late)
        timing = Timing(first=100.0, end=140.0, timeout_s=30.0, onboard_s=0, bot_cpu_s=1.0, driver_cpu_s=0)
        result = summarize(users, "embedded", 4, 0.0, timing)
    finally:
        users.close()
    assert (result.turns, result.lost, result.late) == (1, 3, 1)
    assert (result.duplicated, result.unexpected) == (1, 1)
    assert result.p50_ms == result.p99_ms == 500.0
    assert result.bot_cpu_ms_per_turn == 1000.0  # one reply came while users talked (until 140.0)


def test_chat_ignores_typing_while_talking() -> None:
    chat = Chat(5)
    chat.talking = True
    chat.record(Call("sendChatAction", {"chat_id": 5, "action": "typing"}, response={"ok": True}))
    assert (chat.unexpected, chat.replied_at) == (0, {})


def _dora(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    dora = Path(sys.executable).with_name("dora")
    return subprocess.run(
        [str(dora), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )


def test_cli_json_is_one_object(tmp_path: Path) -> None:
    result = _dora(
        "bench", "bot", "--users", "2", "--messages", "1", "--llm-latency", "0", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    report = json.loads(line)
    assert report.keys() >= KEYS and report["lost"] == 0 and report["duplicated"] == 0
    assert not (tmp_path / "data").exists()


def test_cli_unknown_setup_is_a_clean_error(tmp_path: Path) -> None:
    result = _dora("bench", "bot", "--setup", "nonsense", cwd=tmp_path)
    assert result.returncode == 1
    assert "unknown setup" in result.stderr and "Traceback" not in result.stderr
