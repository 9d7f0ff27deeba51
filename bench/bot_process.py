"""The bot side of ``dora bench bot``: the real bot app, long polling or one webhook worker, in a
process of its own.

A process of its own so the load generator and the loopback Bot API server (the driver, in
:mod:`bench.bot`) do not share the bot's interpreter lock, and the bot's CPU time can be read
apart from theirs. Only the LLM is a stand-in: :class:`~testkit.fake_chat.FakeChatModel`, which
waits a fixed latency (the time to first token of a real backend), then answers "Ответ на: <the
user's last message>" (the echo lets the driver match each reply to the message it answers) and
"no facts" to fact extraction. It waits without blocking the event loop on async paths and blocks
its thread on sync ones, as a real HTTP backend would.

The driver talks to it over stdin/stdout, a line at a time: the first line in is the configuration
as JSON (``settings``, ``llm_latency_s``, ``profile``, and ``webhook`` / ``register``: serve the
webhook as :func:`dora.wiring.bot.run_webhook` does, registering it with the Bot API or not); out comes
``{"ready": true}`` once the bot polls, or once this process listens on the webhook port; each
``cpu`` line in is answered with ``{"cpu_s": ...}`` (this process's CPU time so far, all threads;
with ``profile``, a profile mark too: the file written covers the time between the last two); end of
input stops the bot, which answers ``{"cpu_s": ..., "stopped": true}`` and exits. Lines out carry a
prefix, so anything else a library prints is ignored.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import resource
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkit.fake_chat import FakeChatModel, echo

if TYPE_CHECKING:
    from dora.config import Settings

PREFIX = "DORA-BENCH "


def cpu_seconds() -> float:
    """CPU time of this whole process (every thread, user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_protocol = sys.stdout  # main() gives the protocol a stdout of its own


def say(message: dict[str, Any]) -> None:
    _protocol.write(PREFIX + json.dumps(message) + "\n")
    _protocol.flush()


def _own_stdout() -> None:
    """Keep the real stdout for the protocol and send whatever else writes there to stderr (the
    log): the driver reads stdout only now and then, and a full pipe would stall the bot."""
    global _protocol
    _protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


Stats = dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]]


class ThreadProfiles:
    """cProfile in every Python thread (the event loop's, asyncio's workers where memory search and
    writes run, aiosqlite's connections...), in CPU time per thread. cProfile alone sees only the
    thread that enabled it; native threads (onnxruntime's) are seen only through their caller.

    :meth:`mark` snapshots them all; :meth:`dump` writes the difference between the last two marks
    (the timed messages, without start-up and onboarding) as one pstats file."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._marks: list[Stats] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Profile this thread and every thread started after this."""
        self._start_here()
        threading.setprofile(self._first_event)

    def _first_event(self, frame: Any, event: str, arg: Any) -> None:
        self._start_here()  # cProfile replaces this hook for the rest of the thread

    def _start_here(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(profile)
        profile.enable()

    def mark(self) -> None:
        merged: Stats = {}
        with self._lock:
            profiles = list(self._profiles)
        for profile in profiles:
            profile.snapshot_stats()  # reads without stopping it (under the GIL: consistent)
            _combine(merged, profile.stats, 1)  # type: ignore[attr-defined]
        self._marks.append(merged)

    def dump(self, path: Path) -> None:
        if not self._marks:
            return
        diff: Stats = {}
        _combine(diff, self._marks[-1], 1)
        if len(self._marks) > 1:
            _combine(diff, self._marks[-2], -1)
        kept = {func: row for func, row in diff.items() if row[1] > 0 or row[2] > 0}
        pstats.Stats(_Snapshot(kept)).dump_stats(str(path))  # type: ignore[arg-type]


def _combine(into: Stats, stats: Stats, sign: int) -> None:
    """``into`` += ``sign`` × ``stats``, callers included (pstats rows and caller rows are sums)."""
    for func, (cc, nc, tt, ct, callers) in stats.items():
        old = into.get(func, (0, 0, 0.0, 0.0, {}))
        merged_callers = dict(old[4])
        for caller, row in callers.items():
            base = merged_callers.get(caller, (0, 0, 0.0, 0.0))
            merged_callers[caller] = tuple(a + sign * b for a, b in zip(base, row, strict=True))
        counts = (old[0] + sign * cc, old[1] + sign * nc, old[2] + sign * tt, old[3] + sign * ct)
        into[func] = (*counts, merged_callers)


@dataclass
class _Snapshot:
    """What :class:`pstats.Stats` reads from a profiler."""

    stats: Stats

    def create_stats(self) -> None:
        pass


async def _lines() -> AsyncIterator[str]:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode().strip()


async def serve() -> tuple[ThreadProfiles | None, Path | None]:
    """Run the bot as the configuration line says, until end of input; the profiles to dump, if any."""
    from dora.config import Settings

    lines = _lines()
    config = json.loads(await anext(lines))
    profile = Path(config["profile"]) if config.get("profile") else None
    profiles = ThreadProfiles() if profile else None
    if profiles is not None:
        profiles.start()
    settings = Settings(**config["settings"])
    # on the event loop, as an async HTTP backend is: no thread hop per call in the bot's CPU time
    llm = FakeChatModel(
        responder=echo(),
        latency_s=float(config["llm_latency_s"]),
        word_interval_s=float(config.get("token_interval_s") or 0.0),
        threaded=False,
    )
    if config.get("webhook"):
        await _serve_webhook(settings, llm, bool(config.get("register")), lines, profiles)
    else:
        await _serve_polling(settings, llm, lines, profiles)
    await asyncio.get_running_loop().shutdown_default_executor()
    return profiles, profile


async def _answer_until_end(lines: AsyncIterator[str], profiles: ThreadProfiles | None) -> None:
    """Answer the driver's ``cpu`` lines until its end of input, which is the signal to stop."""
    async for line in lines:
        if line == "cpu":
            if profiles is not None:
                profiles.mark()
            say({"cpu_s": cpu_seconds()})


async def _serve_polling(
    settings: Settings, llm: FakeChatModel, lines: AsyncIterator[str], profiles: ThreadProfiles | None
) -> None:
    """Long polling, as ``dora bot`` without a webhook URL."""
    from dora.wiring.bot import running_bot

    async with running_bot(settings, llm_for=lambda role: llm) as (bot, dp, deps):
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        say({"ready": True})
        await _answer_until_end(lines, profiles)
        await dp.stop_polling()
        await polling
        await deps.conversations.idle()
        # Extraction and summaries wait behind replies and are not what is measured: left undone.
        await deps.companion.background.close(0)


async def _serve_webhook(
    settings: Settings,
    llm: FakeChatModel,
    register: bool,
    lines: AsyncIterator[str],
    profiles: ThreadProfiles | None,
) -> None:
    """One webhook worker as ``dora bot --workers N`` runs each (:func:`dora.wiring.bot.run_webhook`
    itself) but with the stand-in LLM; it stops as on SIGTERM, finishing the replies in hand."""
    from dora.wiring.bot import run_webhook

    stop = asyncio.Event()
    # extraction and summaries wait behind replies and are not what is measured: as in polling
    # mode, left undone at the end (pending, in a throwaway store) instead of given two minutes
    serving = asyncio.create_task(
        run_webhook(settings, stop, register, llm_for=lambda role: llm, drain_timeout_s=0)
    )
    await _listening(int(settings.telegram_webhook_listen.rpartition(":")[2]), serving)
    say({"ready": True})
    await _answer_until_end(lines, profiles)
    stop.set()
    await serving


async def _listening(port: int, serving: asyncio.Task[None], timeout_s: float = 300.0) -> None:
    """Wait until this process listens on ``port``. Other workers share the port (SO_REUSEPORT),
    so a connection would not tell which one accepts: only this process's own sockets do."""
    import psutil

    me = psutil.Process()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if serving.done():
            serving.result()  # raises what made it fail at start
            raise RuntimeError("the webhook server stopped before it listened")
        if any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in me.net_connections("tcp")):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the webhook server did not listen on port {port} within {timeout_s:.0f} s")


def main() -> None:
    _own_stdout()
    profiles, path = asyncio.run(serve())
    if profiles is not None and path is not None:
        profiles.dump(path)
    say({"cpu_s": cpu_seconds(), "stopped": True})


if __name__ == "__main__":
    main()
