"""``dora bench bot``: the real bot under load from simulated users, through the loopback Bot API.

N users talk to the bot at once, each in a closed loop: a message, then the next one as soon as the
reply to it has arrived, M messages each. The bot is the real app (aiogram, middlewares, database,
agent graph, memory) in a process of its own (:mod:`bench.bot_process`); the LLM is a stand-in that
answers after a fixed latency S by echoing the message, so each reply can be matched to the
message it answers. Everything runs in a throwaway data dir (the operator's data is never touched).

Onboarding (``/start``, accepting the terms, browsing to and picking the Dora persona) is done for
every user at once first and timed apart (``onboard_s``); the figures below cover the messages:

- ``turns_per_s``: replies that arrived in time, divided by the time from the first message to the
  last such reply;
- ``p50_ms`` / ``p95_ms`` / ``p99_ms``: reply latency, from the moment a message is queued in the
  Bot API server to the moment the bot's ``sendMessage`` with its reply reaches the server;
- ``lost``: messages with no reply within ``timeout_s`` (30 s plus S); a user whose reply is lost
  sends the next message anyway, and a reply that comes later still counts as lost (and in ``late``);
- ``duplicated``: replies beyond the first to the same message (each message carries a number
  ``#k`` that the echo repeats: a chat got more replies than it sent messages);
- ``unexpected``: other messages the bot sent to the chats meanwhile (an error notice, a flood
  warning); a reply split in several messages would show here too (the echo is short: it never is);
- ``replies_per_s``: every first reply, late ones included, from the first message to the last
  reply: what the bot gets through when overloaded (``turns_per_s`` then counts only the punctual);
- ``bot_cpu_s`` / ``bot_cpu_ms_per_turn``: the bot process's CPU time (all its threads) while the
  users talked, and that over the replies it sent meanwhile; ``driver_cpu_s``: this process's
  (server and users) over the same time, on the same cores.

The flood limit (``throttle_messages_per_minute``) is lifted in the bench: it is there for people,
and at the latencies measured here a closed-loop user writes faster than any person.

Setups (a setup is one function that starts the bot against the server; others can be added):

- ``embedded``: the default deployment (SQLite, embedded Chroma, in-memory FSM, long polling), one
  process;
- ``scaled``: two webhook workers sharing one port (SO_REUSEPORT), as ``dora bot --workers 2`` runs
  them, on PostgreSQL (a throwaway schema on ``DORA_BENCH_POSTGRES_URL``, default
  ``postgresql://postgres@127.0.0.1:5432/test``, dropped at the end), Redis (the database in
  ``DORA_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/14``: **emptied** before and after the
  run, so it must be one kept for the bench) and a ``chroma run`` started in the throwaway dir. The
  CPU time is the sum over the workers. A server that is not there is a :class:`BenchError`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import resource
import secrets
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import SecretStr

from bench.bot_process import PREFIX
from bench.common import MESSAGES
from bot.keyboards import ConsentCb, PersonaCb
from dora.config import Settings
from testkit.botapi import DEFAULT_TOKEN, BotAPIServer, Call

PERSONA = "dora"  # Support: free without limits, like most conversations
ONBOARD_TIMEOUT_S = 300.0  # per onboarding step; hundreds of users onboard at once
TAG = re.compile(r"#(\d+)")


class BenchError(RuntimeError):
    """The bench could not run (the bot did not start, a user could not be onboarded)."""


@dataclass(frozen=True)
class StandIn:
    """The stand-in LLM: ``latency_s`` before its first word (a real backend's time to first token),
    then a word every ``token_interval_s`` (0: all at once), so streamed replies cost what they would
    with a model writing at that pace."""

    latency_s: float
    token_interval_s: float = 0.0


@dataclass
class BotBenchResult:
    setup: str
    users: int
    messages: int
    llm_latency_s: float
    turns: int  # replies that arrived in time
    wall_s: float  # first message to the last reply in time
    turns_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    lost: int
    duplicated: int
    late: int
    unexpected: int
    replies_per_s: float  # first replies, late ones too, from the first message to the last reply
    onboard_s: float
    bot_cpu_s: float  # the bot process's CPU time while users talked (all threads)
    bot_cpu_ms_per_turn: float | None  # that, over the replies sent meanwhile
    driver_cpu_s: float  # this process's (Bot API server and simulated users) over the same time
    cpu_count: int


@dataclass
class Timing:
    """What a run measured besides the chats."""

    first: float  # unix time of the first message
    end: float  # unix time the last user finished talking
    timeout_s: float
    onboard_s: float
    bot_cpu_s: float
    driver_cpu_s: float


# -- the chats ------------------------------------------------------------------------------------


@dataclass
class Chat:
    """One simulated user's private chat, seen from the server: what the bot sent to it."""

    user_id: int
    inbox: asyncio.Queue[Call] = field(default_factory=asyncio.Queue)  # while onboarding
    talking: bool = False
    sent_at: dict[int, float] = field(default_factory=dict)  # message number: unix time queued
    replied_at: dict[int, float] = field(default_factory=dict)  # message number: first reply's time
    waiting: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    duplicated: int = 0
    unexpected: int = 0

    def record(self, call: Call) -> None:
        """A successful call of the bot to this chat (from the server's listener, on our loop)."""
        if not self.talking:
            self.inbox.put_nowait(call)
            return
        if call.method != "sendMessage":
            return  # "typing..." and such
        numbers = [int(n) for n in TAG.findall(call.text or "")]
        if not numbers:
            self.unexpected += 1
        for k in numbers:
            if k in self.replied_at:
                self.duplicated += 1
                continue
            self.replied_at[k] = call.at
            waiter = self.waiting.pop(k, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def expect(self, method: str, timeout: float) -> Call:
        """The next call of ``method`` to this chat (others before it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                call = await self.inbox.get()
                if call.method == method and (method != "sendMessage" or call.text):
                    return call

    def reply_to(self, k: int) -> asyncio.Future[None]:
        waiter = asyncio.get_running_loop().create_future()
        if k in self.replied_at:
            waiter.set_result(None)
        else:
            self.waiting[k] = waiter
        return waiter


class Crowd:
    """The simulated users, their chats, and the server's calls routed to them."""

    def __init__(self, server: BotAPIServer, count: int, first_id: int = 7_000_001) -> None:
        self.server = server
        self.chats = {first_id + i: Chat(first_id + i) for i in range(count)}
        self._remove = server.on_call(self._route)  # the server runs on our loop: no thread hops

    def close(self) -> None:
        self._remove()

    def _route(self, call: Call) -> None:
        chat = self.chats.get(call.chat_id) if call.ok else None
        if chat is not None:
            chat.record(call)

    async def onboard(self, chat: Chat, persona_index: int) -> None:
        """/start, accept the terms, browse the cards to the persona, pick it: as a person would."""
        server, uid, timeout = self.server, chat.user_id, ONBOARD_TIMEOUT_S
        try:
            server.user_command(uid, "/start")
            await chat.expect("sendMessage", timeout)  # the welcome with the terms' buttons
            server.user_callback(uid, ConsentCb(action="accept").pack())
            await chat.expect("sendPhoto", timeout)  # the first card
            for index in range(1, persona_index + 1):
                server.user_callback(uid, PersonaCb(action="show", index=index).pack())
                await chat.expect("editMessageMedia", timeout)
            server.user_callback(uid, PersonaCb(action="pick", index=persona_index).pack())
            await chat.expect("sendMessage", timeout)  # the persona's greeting
        except TimeoutError:
            raise BenchError(f"a user could not be onboarded within {timeout:.0f} s a step") from None
        chat.talking = True

    async def talk(self, chat: Chat, messages: int, timeout: float) -> None:
        """Closed loop: each message waits for its reply (or ``timeout``) before the next is sent."""
        for k in range(messages):
            text = f"{MESSAGES[(chat.user_id + k) % len(MESSAGES)]} #{k}"
            chat.sent_at[k] = time.time()
            self.server.user_message(chat.user_id, text)
            with suppress(TimeoutError):
                await asyncio.wait_for(chat.reply_to(k), timeout)


# -- setups ---------------------------------------------------------------------------------------


class BotProcess:
    """The bot in a child process (:mod:`bench.bot_process`), driven over its stdin and stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log

    @classmethod
    @asynccontextmanager
    async def run(
        cls,
        settings: Settings,
        llm: StandIn,
        log: Path,
        profile: Path | None = None,
        *,
        webhook: bool = False,
        register: bool = False,
    ) -> AsyncIterator[BotProcess]:
        """The bot started (polling, or a webhook worker that sets the webhook when ``register``)
        until the context ends; then stopped, once it has answered what it had."""
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.bot_process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        bot = cls(proc, log)
        try:
            config = {"settings": settings_payload(settings), "llm_latency_s": llm.latency_s}
            config["token_interval_s"] = llm.token_interval_s
            config["profile"] = str(profile.resolve()) if profile else None
            config["webhook"], config["register"] = webhook, register
            await bot._send(json.dumps(config))
            await bot._receive("ready", timeout=300)
            yield bot
            assert proc.stdin is not None
            proc.stdin.close()
            await bot._receive("stopped", timeout=300)
            await asyncio.wait_for(proc.wait(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def cpu_s(self) -> float:
        await self._send("cpu")
        return float((await self._receive("cpu_s", timeout=60))["cpu_s"])

    async def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def _receive(self, key: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while line := await self.proc.stdout.readline():
                    text = line.decode(errors="replace")
                    if text.startswith(PREFIX) and key in (message := json.loads(text[len(PREFIX) :])):
                        return message
        except TimeoutError:
            pass
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise BenchError(f"the bot process gave no {key!r} (its log ends with:\n{tail})")


def settings_payload(settings: Settings) -> dict[str, Any]:
    """Every setting, secrets included, as JSON values: the child gets exactly these (its environment
    and ``.env`` cannot change them, since explicit values win)."""
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        out[name] = value
    return out


def embedded_settings(base: Settings, data_dir: Path, api_base: str) -> Settings:
    """The default deployment in ``data_dir``: SQLite, embedded Chroma, long polling. Only the
    embedder, the models folder and memory tuning are taken from ``base``."""
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "models_dir": base.resolved_models_dir,
            "secret_key": None,
            "chroma_url": None,
            "postgres_url": None,
            "redis_url": None,
            "personas_dir": None,
            "llm": "local",  # the stand-in model is passed in; "local" binds no tools and loads nothing
            "telegram_token": SecretStr(DEFAULT_TOKEN),
            "telegram_api_base": api_base,
            "telegram_webhook_url": None,
            "telegram_webhook_secret": None,
            "required_channel": None,
            "throttle_messages_per_minute": 1_000_000,
            "image_model": None,
        }
    )


class BotUnderTest(Protocol):
    """What the run needs from a started setup: the CPU time its processes used so far."""

    async def cpu_s(self) -> float: ...


# A setup: (operator's settings, a throwaway dir, the Bot API server, the LLM's latency, where to write
# a profile) → the bot running against the server until the context ends, having answered what it had.
Setup = Callable[
    [Settings, Path, BotAPIServer, StandIn, Path | None], AbstractAsyncContextManager[BotUnderTest]
]


def embedded(
    base: Settings, tmp: Path, server: BotAPIServer, llm: StandIn, profile: Path | None
) -> AbstractAsyncContextManager[BotUnderTest]:
    """One bot process, long polling, on SQLite and embedded Chroma in ``tmp``."""
    settings = embedded_settings(base, tmp / "data", server.base_url)
    return BotProcess.run(settings, llm, tmp / "bot.log", profile)


# -- the scaled setup: 2 webhook workers on PostgreSQL, Redis and a Chroma server ------------------

WORKERS = 2
WEBHOOK_PATH = "/tg/hook"


def bench_postgres_url() -> str:
    return os.environ.get("DORA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def bench_redis_url() -> str:
    return os.environ.get("DORA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def _missing(what: str, url: str, variable: str, exc: BaseException) -> BenchError:
    from dora.wiring.services import redacted

    return BenchError(
        f"the scaled setup needs {what}: {redacted(url)} ({variable}) is unreachable: {type(exc).__name__}"
    )


@asynccontextmanager
async def postgres_schema(base_url: str) -> AsyncIterator[str]:
    """A throwaway schema on ``base_url``, dropped at the end: the URL that puts everything in it."""
    import psycopg

    schema = f"t_bench_{uuid.uuid4().hex[:10]}"
    try:
        await _postgres_execute(base_url, f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        raise _missing("PostgreSQL", base_url, "DORA_BENCH_POSTGRES_URL", exc) from exc
    try:
        yield f"{base_url}{'&' if '?' in base_url else '?'}options={quote(f'-csearch_path={schema}')}"
    finally:
        await _postgres_execute(base_url, f'DROP SCHEMA "{schema}" CASCADE')


async def _postgres_execute(url: str, sql: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5) as conn:
        await conn.execute(sql)  # type: ignore[arg-type]  # a statement of ours, not user input


@asynccontextmanager
async def redis_database(url: str) -> AsyncIterator[str]:
    """The bench's Redis database, emptied before (what a previous run left) and after: whatever
    else is in that database is lost, so it must be one kept for the bench."""
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=5)
    try:
        await client.flushdb()
    except Exception as exc:
        await client.aclose()
        raise _missing("Redis", url, "DORA_BENCH_REDIS_URL", exc) from exc
    try:
        yield url
    finally:
        with suppress(Exception):  # the run's own error, if any, is the one to see
            await client.flushdb()
        await client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def chroma_server(path: Path, log: Path, start_timeout_s: float = 60.0) -> AsyncIterator[str]:
    """A ``chroma run`` on a free loopback port with its data in ``path``, stopped at the end: its URL."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    with log.open("wb") as out:
        try:
            proc = await asyncio.create_subprocess_exec(
                *(chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)),
                stdout=out,
                stderr=out,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        except OSError as exc:
            raise BenchError(f"the scaled setup needs a Chroma server: cannot run {chroma} ({exc})") from exc
    try:
        await _wait_for_port(port, proc, start_timeout_s, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        await _stop(proc)


async def _wait_for_port(port: int, proc: asyncio.subprocess.Process, timeout_s: float, log: Path) -> None:
    """Until something accepts on ``port``; a BenchError if ``proc`` exits or time runs out first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.returncode is None:
        with suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:]
    raise BenchError(f"the scaled setup needs a Chroma server: `chroma run` did not start (its log:\n{tail})")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def scaled_settings(
    base: Settings, data_dir: Path, api_base: str, port: int, stores: dict[str, str]
) -> Settings:
    """The embedded settings (flood limit lifted, stand-in LLM...) with every store on a server
    (``stores``: postgres_url, redis_url, chroma_url) and updates by webhook on ``port``."""
    return embedded_settings(base, data_dir, api_base).model_copy(
        update={
            **stores,
            "telegram_webhook_url": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            "telegram_webhook_secret": SecretStr(secrets.token_urlsafe(24)),
            "telegram_webhook_listen": f"127.0.0.1:{port}",
        }
    )


@dataclass
class Workers:
    """Several bot processes seen as one bot: their CPU time is the sum of theirs."""

    processes: list[BotProcess]

    async def cpu_s(self) -> float:
        return sum(await asyncio.gather(*(p.cpu_s() for p in self.processes)))


def _worker_profile(profile: Path | None, index: int) -> Path | None:
    """Worker 0 writes ``profile``, worker i ``<stem>.<i><suffix>`` next to it."""
    if profile is None or index == 0:
        return profile
    return profile.with_name(f"{profile.stem}.{index}{profile.suffix}")


@asynccontextmanager
async def scaled(
    base: Settings, tmp: Path, server: BotAPIServer, llm: StandIn, profile: Path | None
) -> AsyncIterator[BotUnderTest]:
    """Two webhook workers sharing one port (SO_REUSEPORT), as ``dora bot --workers 2`` runs them
    but with the stand-in LLM, on PostgreSQL (a throwaway schema), Redis (the bench's database) and
    a ``chroma run`` of the bench's own; they share the data dir (the keys), as workers do."""
    async with AsyncExitStack() as stack:
        stores = {
            "redis_url": await stack.enter_async_context(redis_database(bench_redis_url())),
            "postgres_url": await stack.enter_async_context(postgres_schema(bench_postgres_url())),
            "chroma_url": await stack.enter_async_context(chroma_server(tmp / "chroma", tmp / "chroma.log")),
        }
        settings = scaled_settings(base, tmp / "data", server.base_url, free_port(), stores)
        processes = []
        for index in range(WORKERS):  # one at a time: worker 0 creates the tables and sets the webhook
            log, worker_profile = tmp / f"bot.{index}.log", _worker_profile(profile, index)
            worker = BotProcess.run(settings, llm, log, worker_profile, webhook=True, register=index == 0)
            processes.append(await stack.enter_async_context(worker))
        if not (server.webhook or {}).get("url"):
            raise BenchError("the workers are listening but no webhook was set")
        yield Workers(processes)


SETUPS: dict[str, Setup] = {"embedded": embedded, "scaled": scaled}


# -- the run --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _persona_index(settings: Settings) -> int:
    from dora.wiring.agent import build_personas

    return [card.id for card in build_personas(settings).list()].index(PERSONA)


async def _bench(
    base: Settings,
    setup: str,
    users: int,
    messages: int,
    llm_latency_s: float,
    tmp: Path,
    profile: Path | None,
    log: Callable[[str], None],
    token_interval_s: float = 0.0,
) -> BotBenchResult:
    timeout = 30.0 + llm_latency_s  # a reply later than this is lost
    server = await BotAPIServer().astart()
    crowd = Crowd(server, users)
    try:
        log(f"starting the bot ({setup})…")
        async with SETUPS[setup](base, tmp, server, StandIn(llm_latency_s, token_interval_s), profile) as bot:
            persona = _persona_index(base.model_copy(update={"data_dir": tmp / "data", "personas_dir": None}))
            log(f"onboarding {users} users…")
            started = time.perf_counter()
            await asyncio.gather(*(crowd.onboard(chat, persona) for chat in crowd.chats.values()))
            onboard_s = time.perf_counter() - started
            log(f"{users} users × {messages} messages, LLM latency {llm_latency_s} s…")
            bot_cpu, own_cpu = await bot.cpu_s(), _own_cpu_s()
            first = time.time()
            await asyncio.gather(*(crowd.talk(chat, messages, timeout) for chat in crowd.chats.values()))
            end = time.time()
            bot_cpu, own_cpu = await bot.cpu_s() - bot_cpu, _own_cpu_s() - own_cpu
            await asyncio.sleep(min(2 * llm_latency_s + 1, 5))  # duplicates come after the real reply
        # leaving the setup stopped the bot once it had answered what it had (late replies included)
    finally:
        crowd.close()
        await server.astop()
    timing = Timing(first, end, timeout, onboard_s, bot_cpu, own_cpu)
    return summarize(crowd, setup, messages, llm_latency_s, timing)


def summarize(
    crowd: Crowd, setup: str, messages: int, llm_latency_s: float, timing: Timing
) -> BotBenchResult:
    """The figures of a run from what each chat saw (definitions in the module docstring)."""
    latencies: list[float] = []
    lost = late = meanwhile = 0
    last_in_time = last_any = timing.first
    for chat in crowd.chats.values():
        for k, sent in chat.sent_at.items():
            replied = chat.replied_at.get(k)
            if replied is not None:
                last_any = max(last_any, replied)
                meanwhile += replied <= timing.end
            if replied is None or replied - sent > timing.timeout_s:
                lost += 1
                late += replied is not None
                continue
            latencies.append(replied - sent)
            last_in_time = max(last_in_time, replied)
    wall = max(last_in_time - timing.first, 1e-9)
    replied_count = sum(len(c.replied_at) for c in crowd.chats.values())

    def ms(q: float) -> float | None:
        value = percentile(latencies, q)
        return None if value is None else round(value * 1000, 1)

    return BotBenchResult(
        setup=setup,
        users=len(crowd.chats),
        messages=messages,
        llm_latency_s=llm_latency_s,
        turns=len(latencies),
        wall_s=round(wall, 3),
        turns_per_s=round(len(latencies) / wall, 2),
        p50_ms=ms(50),
        p95_ms=ms(95),
        p99_ms=ms(99),
        lost=lost,
        duplicated=sum(c.duplicated for c in crowd.chats.values()),
        late=late,
        unexpected=sum(c.unexpected for c in crowd.chats.values()),
        replies_per_s=round(replied_count / max(last_any - timing.first, 1e-9), 2),
        onboard_s=round(timing.onboard_s, 2),
        bot_cpu_s=round(timing.bot_cpu_s, 2),
        bot_cpu_ms_per_turn=round(timing.bot_cpu_s * 1000 / meanwhile, 1) if meanwhile else None,
        driver_cpu_s=round(timing.driver_cpu_s, 2),
        cpu_count=os.cpu_count() or 1,
    )


def run_bot_bench(
    base: Settings,
    *,
    users: int = 50,
    messages: int = 3,
    llm_latency_s: float = 0.5,
    setup: str = "embedded",
    profile: Path | None = None,
    log: Callable[[str], None] = lambda message: None,
    token_interval_s: float = 0.0,
) -> dict[str, Any]:
    """Run the bench once (see the module docstring); ``profile``: write the bot process's cProfile
    stats there (CPU time per thread, the event loop's and the worker threads' merged);
    ``token_interval_s``: the stand-in writes a word this often (streaming then has something to
    show); whether replies stream is ``base.stream_replies``."""
    if setup not in SETUPS:
        raise BenchError(f"unknown setup {setup!r}; known: {', '.join(SETUPS)}")
    if users < 1 or messages < 1 or llm_latency_s < 0 or token_interval_s < 0:
        raise BenchError("users and messages must be at least 1, the latency not negative")
    with tempfile.TemporaryDirectory(prefix="dora-bench-bot-") as tmp:
        result = asyncio.run(
            _bench(base, setup, users, messages, llm_latency_s, Path(tmp), profile, log, token_interval_s)
        )
    return {**asdict(result), "token_interval_s": token_interval_s, "streaming": base.stream_replies}
