"""The worker supervisor behind `dora bot --workers N`, with stand-in worker commands."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from dora.config import Settings
from dora.workers import WorkersConfigError, check_can_share, supervise


def test_several_workers_need_shared_servers(tmp_path: Path) -> None:
    with pytest.raises(WorkersConfigError, match=r"DORA_REDIS_URL.*DORA_POSTGRES_URL.*DORA_CHROMA_URL"):
        check_can_share(Settings(data_dir=tmp_path, telegram_webhook_url="https://example.org/hook"))
    check_can_share(
        Settings(
            data_dir=tmp_path,
            telegram_webhook_url="https://example.org/hook",
            redis_url="redis://r",
            postgres_url="postgresql://p",
            chroma_url="http://c",
        )
    )


def test_a_dead_worker_is_started_again_and_sigterm_stops_all(tmp_path: Path) -> None:
    """Each stand-in worker appends its index to a file and sleeps; one is killed and comes back."""
    log = tmp_path / "starts"

    def command(index: int) -> list[str]:
        code = f"open({str(log)!r}, 'a').write('{index}\\n'); import time; time.sleep(60)"
        return [sys.executable, "-c", code]

    def kill_one_then_stop() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_starts(log)) < 2:
            time.sleep(0.05)
        import psutil

        ours = [c for c in psutil.Process(os.getpid()).children() if str(log) in " ".join(c.cmdline())]
        ours[0].kill()  # one of the stand-in workers, not another test's server
        while time.monotonic() < deadline and len(_starts(log)) < 3:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=kill_one_then_stop, daemon=True).start()
    assert supervise(2, command, restart_delay_s=0.1, quick_exit_s=0.0) == 0
    assert sorted(_starts(log)[:2]) == ["0", "1"] and len(_starts(log)) == 3


def test_workers_that_keep_failing_at_start_give_up(tmp_path: Path) -> None:
    started = time.monotonic()
    code = supervise(
        2,
        lambda i: [sys.executable, "-c", "raise SystemExit(3)"],
        restart_delay_s=0.01,
        quick_exits_allowed=3,
    )
    assert code == 1 and time.monotonic() - started < 30


def _starts(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []
