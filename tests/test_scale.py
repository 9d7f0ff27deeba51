"""Scale-out on the real servers: Redis (per-user locks, flood counts, aiogram's storage), PostgreSQL
and a Chroma server shared by workers, and one clear error when a configured server is away.

Redis and PostgreSQL are the local ones (skipped, with the reason, when they are not reachable);
Redis tests use database 15 and empty it before and after.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.background import BackgroundQueue
from agent.locks import RedisUserLocks
from bot.middlewares.throttling import RedisRateWindow
from dora.config import Settings
from testkit.botapi import DEFAULT_TOKEN, BotAPIServer
from tests.conftest import ChromaServer, free_port
from tests.test_bot import Brain, RunningBot, onboard, say

REDIS_URL = os.environ.get("DORA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:
        return f"Redis at {REDIS_URL} (DORA_TEST_REDIS_URL) is not reachable: {type(exc).__name__}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    if problem := _redis_problem():
        pytest.skip(problem)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def test_redis_locks_keep_one_holder_across_workers(redis_url: str) -> None:
    from redis.asyncio import Redis

    async def scenario() -> tuple[int, bool, float]:
        a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)  # two workers' connections
        workers = [RedisUserLocks(a, lease_s=1.0), RedisUserLocks(b, lease_s=1.0)]
        inside = most = 0

        async def turn(i: int) -> None:
            nonlocal inside, most
            async with workers[i % 2].hold("turn:1"):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.03)
                inside -= 1

        await asyncio.gather(*(turn(i) for i in range(10)))

        # held past its lease, the lock is renewed: the other worker waits the whole time
        entered = asyncio.Event()

        async def other() -> None:
            async with workers[1].hold("long"):
                entered.set()

        async with workers[0].hold("long"):
            waiter = asyncio.create_task(other())
            await asyncio.sleep(2.5)
            kept_out = not entered.is_set()
        await asyncio.wait_for(waiter, 5)

        # a holder that died (no renewals) frees the key within its lease
        crashed = a.lock("dora:lock:crashed", timeout=1.0)
        assert await crashed.acquire()
        start = time.monotonic()
        async with workers[1].hold("crashed"):
            waited = time.monotonic() - start
        await a.aclose()
        await b.aclose()
        return most, kept_out, waited

    most, kept_out, waited = asyncio.run(scenario())
    assert most == 1
    assert kept_out
    assert 0.5 < waited < 3


def test_memory_work_for_a_user_runs_one_at_a_time_across_workers(redis_url: str) -> None:
    from redis.asyncio import Redis

    async def scenario() -> list[tuple[str, str]]:
        clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
        queues = [BackgroundQueue(locks=RedisUserLocks(c, lease_s=2.0)) for c in clients]
        log: list[tuple[str, str]] = []

        def job(name: str):  # type: ignore[no-untyped-def]
            async def run() -> None:
                log.append(("start", name))
                await asyncio.sleep(0.05)
                log.append(("end", name))

            return run

        for i in range(6):  # turns of one user landing on alternate workers
            queues[i % 2].submit("user-1", f"extraction-{i}", job(f"j{i}"))
            await asyncio.sleep(0.01)
        for q in queues:
            await q.drain(10)
        for c in clients:
            await c.aclose()
        return log

    log = asyncio.run(scenario())
    assert len(log) == 12
    # never two at once: every start is followed by its own end
    assert all(log[i][0] == "start" and log[i + 1] == ("end", log[i][1]) for i in range(0, 12, 2))


def test_flood_count_is_shared_by_workers(redis_url: str) -> None:
    from redis.asyncio import Redis

    async def scenario() -> tuple[list[bool], list[bool]]:
        clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
        windows = [RedisRateWindow(c) for c in clients]
        admitted = [await windows[i % 2].admit(42, limit=3) for i in range(5)]
        warned = [await windows[i % 2].first_refusal(42) for i in range(3)]
        assert await windows[0].admit(43, limit=3)  # another user has their own count
        for c in clients:
            await c.aclose()
        return admitted, warned

    admitted, warned = asyncio.run(scenario())
    assert admitted == [True, True, True, False, False]
    assert warned == [True, False, False]


def _plaintext_in_postgres(url: str, needle: str) -> tuple[dict[str, int], list[str]]:
    """Rows per table of the test schema, and the tables whose rows contain ``needle`` as text or
    as UTF-8 bytes."""
    import psycopg

    hexed = needle.encode().hex()
    found, rows = [], {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        for (table,) in tables:
            texts = [row for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t')]
            rows[table] = len(texts)
            if any(needle in row or hexed in row for row in texts):
                found.append(table)
    return rows, found


def _plaintext_in_redis(url: str, needle: bytes) -> tuple[int, list[str]]:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter("*"))
    return len(keys), [k.decode() for k in keys if needle in k or needle in (client.dump(k) or b"")]


def test_bot_on_postgres_redis_and_a_chroma_server_keeps_no_plaintext(
    tmp_path: Path, redis_url: str, postgres_schema_url: str, chroma_server: ChromaServer, embeddings
) -> None:
    brain = Brain()
    brain.facts = [{"text": "У собеседника рыжий кот Бублик", "category": "pets", "importance": 7}]
    with BotAPIServer() as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            telegram_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
            telegram_api_base=server.base_url,
            postgres_url=postgres_schema_url,
            redis_url=redis_url,
            chroma_url=chroma_server.url,
        )
        running = RunningBot(settings, brain, embeddings).start()
        try:
            onboard(server)
            assert "Бублик" in say(server, "Привет! У меня рыжий кот Бублик.")
            running.call(running.deps.companion.drain())
            facts = running.deps.companion.facts("tg:5550001")
            assert [f.text for f in facts] == ["У собеседника рыжий кот Бублик"]
        finally:
            running.stop()

    rows, found = _plaintext_in_postgres(postgres_schema_url, "Бублик")
    assert rows["checkpoints"] > 0 and rows["users"] == 1 and rows["dora_user_keys"] == 1, rows
    assert found == []
    keys, found = _plaintext_in_redis(redis_url, "Бублик".encode())
    assert keys > 0 and found == []
    chroma_files = [p for p in chroma_server.path.rglob("*") if p.is_file()]
    assert chroma_files and not [p for p in chroma_files if "Бублик".encode() in p.read_bytes()]
    # the local data dir holds keys only: conversations and memory went to the servers
    assert not (settings.data_dir / "chroma").exists() and not (settings.data_dir / "bot.sqlite").exists()


@pytest.mark.parametrize(
    ("setting", "variable"), [("redis_url", "DORA_REDIS_URL"), ("postgres_schema_url", "DORA_POSTGRES_URL")]
)
def test_a_server_away_at_start_is_one_clear_error(tmp_path: Path, setting: str, variable: str) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://127.0.0.1:{port}/0" if setting == "redis_url" else f"postgresql://u:pw@127.0.0.1:{port}/x"
    env = {
        **os.environ,
        "DORA_DATA_DIR": str(tmp_path / "data"),
        "DORA_TELEGRAM_TOKEN": DEFAULT_TOKEN,
        "DORA_TELEGRAM_API_BASE": "http://127.0.0.1:9",
        variable: url,
    }
    done = subprocess.run(
        [sys.executable, "-c", "from dora.cli import run; run()", "bot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert variable in out and "unreachable" in out and "Traceback" not in out
    assert "pw" not in out  # the password is not printed


def _worker_talking_to(supervisor: subprocess.Popen[str], port: int) -> int | None:
    """The pid of the worker with a connection open to ``port`` (the LLM server): the one mid-turn."""
    import psutil

    for child in psutil.Process(supervisor.pid).children():
        try:
            if any(c.raddr and c.raddr.port == port for c in child.net_connections(kind="tcp")):
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def test_two_webhook_workers_a_killed_one_loses_nothing(
    tmp_path: Path, redis_url: str, postgres_schema_url: str, chroma_server: ChromaServer, embeddings
) -> None:
    """`dora bot --workers 2` on PostgreSQL, Redis and a Chroma server, updates by webhook. The
    worker writing a reply is SIGKILLed: the survivor (or the restarted worker) answers that
    message exactly once, and memory holds it once."""
    import signal

    from dora.wiring.memory import build_memory
    from memory.models import MemoryKind
    from tests.openai_server import OpenAIServer
    from tests.test_faults import bot_env, stop

    port = free_port()
    with BotAPIServer() as server, OpenAIServer() as llm:
        llm.ignore_tools = True
        llm.text = "Бублик — отличное имя для кота!"
        env = bot_env(
            tmp_path / "data",
            server,
            llm.base_url,
            telegram_webhook_url=f"http://127.0.0.1:{port}/tg/hook",
            telegram_webhook_secret="s3cret",
            telegram_webhook_listen=f"127.0.0.1:{port}",
            redis_url=redis_url,
            postgres_url=postgres_schema_url,
            chroma_url=chroma_server.url,
            lock_lease_s="3",
            recover_every_s="1",
        )
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "dora.cli", "bot", "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            server.wait_for("setWebhook", timeout=120)
            time.sleep(3)  # both workers listening
            onboard(server)
            llm.chunk_delay_s = 30.0  # the reply starts streaming, then stalls
            asked = len(llm.requests)
            server.user_message(5550001, "У меня кот Бублик")
            deadline = time.monotonic() + 60
            victim = None
            while victim is None and time.monotonic() < deadline:
                victim = _worker_talking_to(supervisor, llm.port) if len(llm.requests) > asked else None
                time.sleep(0.05)
            assert victim is not None, "no worker asked the model"
            os.kill(victim, signal.SIGKILL)
            llm.chunk_delay_s = 0.0
            reply = server.wait_for(
                lambda c: c.method == "sendMessage" and c.ok and "Бублик —" in (c.text or ""), timeout=90
            )
            assert reply.text == "Бублик — отличное имя для кота!"
            time.sleep(4)  # a second answer would come within a recovery period or two
        finally:
            stop(supervisor, 90)
        replies = [c for c in server.calls("sendMessage") if c.ok and "Бублик —" in (c.text or "")]
        assert len(replies) == 1
    shared = Settings(
        data_dir=tmp_path / "data", chroma_url=chroma_server.url, postgres_url=postgres_schema_url
    )
    memory = build_memory(shared, embeddings)  # users' keys are in PostgreSQL with the rest
    assert [m.text for m in memory.list("tg:5550001", kind=MemoryKind.EPISODE)] == ["У меня кот Бублик"]
