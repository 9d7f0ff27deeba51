"""Faults a deployment meets, on the real parts: a Chroma server restarting mid-conversation,
Telegram answering 429 and 500 in bursts or going away for a while, a bot killed with SIGKILL
mid-turn. The promise each time: replies are delayed or degraded, never lost or doubled."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dora.config import Settings
from dora.wiring.agent import open_companion
from dora.wiring.memory import build_memory
from memory.models import MemoryKind
from testkit.botapi import DEFAULT_TOKEN, BotAPIServer
from testkit.fake_chat import scripted
from tests.conftest import ChromaServer
from tests.test_agent import Script, reply_of, talk
from tests.test_bot import Brain, RunningBot, onboard, say

CAT_FACT = "У собеседника кот Бублик"


def test_chroma_server_restart_mid_conversation(tmp_path: Path, embeddings, caplog) -> None:
    """Memory away: the reply still comes (from the worker's cached index, or without memories),
    with a warning logged; once memory is back, the message said meanwhile is stored and its fact
    extracted."""
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    script = Script()
    script.facts = lambda messages: {
        "facts": [{"text": CAT_FACT, "category": "pets"}] if "Бублик" in str(messages) else []
    }
    model = scripted(script)
    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma.url)

    async def conversation() -> tuple[str, str, list[str], list[str]]:
        memory = build_memory(settings, embeddings)
        memory.chroma._retries = 1  # fail fast while the server is down
        async with open_companion(settings, memory=memory, llm_for=lambda role: model) as c:
            await talk(c, "Привет!")
            await c.background.drain()
            chroma.stop()
            during = reply_of(await talk(c, "У меня кот Бублик, рыжий."))
            await c.background.drain()
            chroma.start_on_same_port()
            after = reply_of(await talk(c, "Как дела?"))
            await c.background.drain()
            episodes = [m.text for m in c.deps.memory.list("u1", kind=MemoryKind.EPISODE)]
            facts = [m.text for m in c.deps.memory.list("u1", kind=MemoryKind.FACT)]
            return during, after, episodes, facts

    try:
        with caplog.at_level(logging.WARNING):
            during, after, episodes, facts = asyncio.run(conversation())
    finally:
        chroma.stop()
    assert during == after == "Рада тебя слышать!"  # a reply, not the apology
    assert "could not be stored yet" in caplog.text
    assert sorted(episodes) == sorted(["Привет!", "У меня кот Бублик, рыжий.", "Как дела?"])
    assert facts == [CAT_FACT]


def test_memory_search_failing_still_gets_a_reply(tmp_path: Path, embeddings, caplog) -> None:
    """A worker with nothing cached and memory away answers without memories."""
    from memory.chroma_store import StoreUnavailableError

    script = Script()
    model = scripted(script)
    settings = Settings(data_dir=tmp_path / "data")

    def away(*args: object, **kw: object) -> None:
        raise StoreUnavailableError("Chroma server http://127.0.0.1:1 (DORA_CHROMA_URL) is unavailable")

    async def turn() -> str:
        memory = build_memory(settings, embeddings)
        memory.search = away  # type: ignore[method-assign]
        async with open_companion(settings, memory=memory, llm_for=lambda role: model) as c:
            return reply_of(await talk(c, "Привет!"))

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(turn()) == "Рада тебя слышать!"
    assert "replying without memories" in caplog.text


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with BotAPIServer() as s:
        yield s


def _settings(tmp_path: Path, server: BotAPIServer, **kw: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        telegram_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
        telegram_api_base=server.base_url,
        **kw,  # type: ignore[arg-type]
    )


def _replies(server: BotAPIServer, text: str) -> list[str]:
    return [c.text or "" for c in server.calls("sendMessage") if c.ok and text in (c.text or "")]


def test_telegram_429_and_500_bursts_delay_replies_but_lose_or_double_none(tmp_path, server, embeddings):
    brain = Brain()
    running = RunningBot(_settings(tmp_path, server), brain, embeddings).start()
    try:
        onboard(server)
        server.fail_next("sendMessage", status=500, retry_after=None, times=2)
        server.fail_next("sendMessage", status=429, retry_after=1, times=1)
        assert say(server, "Раз", timeout=30) == "Ответ на: Раз"
        server.fail_next("sendMessage", status=502, retry_after=None, times=3)
        assert say(server, "Два", timeout=30) == "Ответ на: Два"
    finally:
        running.stop()
    failed = [c.status for c in server.calls("sendMessage") if not c.ok]
    assert sorted(failed) == [429, 500, 500, 502, 502, 502]
    assert _replies(server, "Ответ на: Раз") == ["Ответ на: Раз"]
    assert _replies(server, "Ответ на: Два") == ["Ответ на: Два"]


def test_telegram_away_past_the_retries_gets_the_reply_later_once(tmp_path, server, embeddings):
    """Every retry fails: the turn stays in the inbox, and the reply (already in the thread, so
    the model is not asked again) goes out when Telegram is back."""
    brain = Brain()
    settings = _settings(tmp_path, server, recover_every_s=1.0)
    running = RunningBot(settings, brain, embeddings).start()
    try:
        onboard(server)
        asked = len(brain.prompts)
        server.fail_next("sendMessage", status=500, retry_after=None, times=5)  # all 5 attempts
        mark = server.mark()
        server.user_message(5550001, "Ты здесь?")
        reply = server.wait_for(lambda c: c.method == "sendMessage" and c.ok, since=mark, timeout=40)
    finally:
        running.stop()
    assert reply.text == "Ответ на: Ты здесь?"
    assert len(brain.prompts) == asked + 1  # answered once; the later send replayed that answer
    assert _replies(server, "Ответ на: Ты здесь?") == ["Ответ на: Ты здесь?"]


def bot_env(data_dir: Path, server: BotAPIServer, llm_base_url: str, **settings: str) -> dict[str, str]:
    """The environment of a `dora bot` process on the loopback Bot API and OpenAI-compatible
    servers; ``settings`` add DORA_* variables by their setting names (``redis_url="..."``)."""
    return {
        **os.environ,
        "DORA_DATA_DIR": str(data_dir),
        "DORA_TELEGRAM_TOKEN": DEFAULT_TOKEN,
        "DORA_TELEGRAM_API_BASE": server.base_url,
        "DORA_LLM": "openai",
        "DORA_LLM_BASE_URL": llm_base_url,
        "DORA_LLM_MODEL": "test-model",
        **{f"DORA_{name.upper()}": value for name, value in settings.items()},
    }


def stop(process: subprocess.Popen[str], timeout_s: float) -> None:
    """SIGTERM (a graceful stop, as systemd sends), then SIGKILL if it takes longer than ``timeout_s``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()


def _bot_process(settings_env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dora.cli", "bot"],
        env=settings_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_bot_killed_mid_turn_answers_once_after_restart(tmp_path, server, embeddings):
    """`dora bot` (its own process, LLM on a loopback OpenAI-compatible server that stalls) is
    SIGKILLed while it writes a reply; started again, it answers that message exactly once and
    stores it in memory once."""
    from tests.openai_server import OpenAIServer

    with OpenAIServer() as llm:
        llm.ignore_tools = True
        llm.text = "Бублик — отличное имя для кота!"
        env = bot_env(tmp_path / "data", server, llm.base_url, recover_every_s="1")
        bot = _bot_process(env, tmp_path)
        try:
            server.wait_for(
                "getUpdates", timeout=120
            )  # started: a cold start takes over 10 s on 2 busy cores
            onboard(server)
            llm.chunk_delay_s = 30.0  # the reply starts streaming, then stalls
            asked = len(llm.requests)
            server.user_message(5550001, "У меня кот Бублик")
            deadline = time.monotonic() + 60
            while len(llm.requests) == asked and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(llm.requests) > asked, "the bot never asked the model"
            time.sleep(0.5)
            bot.send_signal(signal.SIGKILL)  # mid-turn: the model is still answering
            bot.wait(10)
            assert not _replies(server, "Бублик — отличное")

            llm.chunk_delay_s = 0.0
            bot = _bot_process(env, tmp_path)
            reply = server.wait_for(
                lambda c: c.method == "sendMessage" and c.ok and "Бублик" in (c.text or ""), timeout=90
            )
            assert reply.text == "Бублик — отличное имя для кота!"
            time.sleep(3)  # a second answer would come within the recovery period
        finally:
            stop(bot, 30)
    assert _replies(server, "Бублик — отличное") == ["Бублик — отличное имя для кота!"]
    memory = build_memory(Settings(data_dir=tmp_path / "data"), embeddings)
    episodes = [m.text for m in memory.list("tg:5550001", kind=MemoryKind.EPISODE)]
    assert episodes == ["У меня кот Бублик"]
