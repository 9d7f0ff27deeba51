"""`dora bot --workers N`: several webhook workers on one port, each its own process.

Each worker listens on DORA_TELEGRAM_WEBHOOK_LISTEN with SO_REUSEPORT, so the kernel spreads
Telegram's connections over them; a worker that dies (a crash, the OOM killer, SIGKILL) is started
again, and whatever it was answering waits in the inbox for a survivor. Workers share nothing in
memory, so everything shared must be a server: Redis (locks, flood counts, aiogram's storage), a
Chroma server, PostgreSQL. The first worker registers the webhook and the command menu.
The root runs them (not the bot package): it is process management around `dora bot`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from dora.config import Settings

log = logging.getLogger(__name__)


class WorkersConfigError(ValueError):
    """Several workers were asked for without what they must share: names the settings."""


def check_can_share(settings: Settings) -> None:
    """Several workers need webhook mode and every store on a server; say what is missing."""
    missing = [
        name
        for name, value in (
            ("DORA_TELEGRAM_WEBHOOK_URL", settings.telegram_webhook_url),
            ("DORA_REDIS_URL", settings.redis_url),
            ("DORA_POSTGRES_URL", settings.postgres_url),
            ("DORA_CHROMA_URL", settings.chroma_url),
        )
        if not value
    ]
    if missing:
        raise WorkersConfigError(
            "several workers share one webhook and keep nothing to themselves: set "
            + ", ".join(missing)
            + " (or run one worker)"
        )


def worker_command(index: int, argv: Sequence[str] | None = None) -> list[str]:
    """The command line of worker ``index``: this same `dora bot`, as one worker."""
    return [sys.executable, "-m", "dora.cli", "bot", "--worker-index", str(index), *(argv or [])]


def supervise(
    count: int,
    command_for: Callable[[int], list[str]] = worker_command,
    restart_delay_s: float = 1.0,
    poll_s: float = 0.2,
    quick_exit_s: float = 10.0,
    quick_exits_allowed: int = 5,
) -> int:
    """Run ``count`` workers until SIGTERM or SIGINT, starting again any that exits on its own.
    On a stop signal every worker gets SIGTERM (they finish the turns in hand) and is waited for.
    Workers that keep dying right after they start (a bad setting, a server away) are not started
    forever: after ``quick_exits_allowed`` such exits in a row everything stops and 1 is returned."""
    stopping = False
    quick_exits = 0

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    workers: dict[int, subprocess.Popen[bytes]] = {}
    started: dict[int, float] = {}

    def start(index: int) -> None:
        workers[index] = subprocess.Popen(command_for(index))
        started[index] = time.monotonic()

    for index in range(count):
        start(index)
    log.info("bot: %d workers started", count)
    try:
        while not stopping:
            for index, proc in list(workers.items()):
                code = proc.poll()
                if code is None or stopping:
                    continue
                quick = time.monotonic() - started[index] < quick_exit_s
                quick_exits = quick_exits + 1 if quick else 0
                if quick_exits >= quick_exits_allowed:
                    log.error("bot: workers keep exiting right after start (last: %s); stopping", code)
                    return 1
                log.warning("bot: worker %d exited (%s); starting it again", index, code)
                time.sleep(restart_delay_s)
                start(index)
            time.sleep(poll_s)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in workers.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
