"""`dora keys rotate`: a new master key unlocks everything the old one did, and the old one no longer
does; both where the key lives in DATA_DIR/secret.key and where it comes from DORA_SECRET_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dora.cli import app
from dora.config import Settings
from dora.wiring.memory import build_keyring, build_memory
from memory.crypto import DecryptionError, generate_key_text
from memory.models import MemoryKind


def _remember(settings: Settings, embeddings) -> tuple[str, bytes]:
    memory = build_memory(settings, embeddings)
    memory.add_fact("tg:1", "У собеседника кот Бублик", category="pets")
    return memory.keyring.user_key("tg:1"), build_keyring(settings).derive("checkpoints")


def _facts(settings: Settings, embeddings) -> list[str]:
    return [m.text for m in build_memory(settings, embeddings).list("tg:1", kind=MemoryKind.FACT)]


def test_rotating_the_key_file(tmp_path: Path, embeddings, monkeypatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("DORA_DATA_DIR", str(data))
    monkeypatch.delenv("DORA_SECRET_KEY", raising=False)
    settings = Settings(data_dir=data)
    user_key, checkpoints_key = _remember(settings, embeddings)
    old = (data / "secret.key").read_text().strip()

    done = CliRunner().invoke(app, ["keys", "rotate"])
    assert done.exit_code == 0, done.output
    new = (data / "secret.key").read_text().strip()
    assert new != old and not (data / "secret.key.new").exists()
    assert (data / "secret.key").stat().st_mode & 0o777 == 0o600
    # the same users, the same data keys, the same conversation key: nothing else was rewritten
    assert _facts(settings, embeddings) == ["У собеседника кот Бублик"]
    keyring = build_keyring(settings)
    assert keyring.user_key("tg:1") == user_key and keyring.derive("checkpoints") == checkpoints_key
    with pytest.raises(DecryptionError):
        build_keyring(Settings(data_dir=data, secret_key=old))  # type: ignore[arg-type]


def test_rotating_a_key_from_the_environment(tmp_path: Path, embeddings, monkeypatch) -> None:
    data = tmp_path / "data"
    old = generate_key_text()
    monkeypatch.setenv("DORA_DATA_DIR", str(data))
    monkeypatch.setenv("DORA_SECRET_KEY", old)
    _remember(Settings(data_dir=data, secret_key=old), embeddings)  # type: ignore[arg-type]
    new = generate_key_text()

    done = CliRunner().invoke(app, ["keys", "rotate", "--new-key", new])
    assert done.exit_code == 0, done.output
    assert new in done.stdout and not (data / "secret.key").exists()
    assert _facts(Settings(data_dir=data, secret_key=new), embeddings) == ["У собеседника кот Бублик"]  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        build_keyring(Settings(data_dir=data, secret_key=old))  # type: ignore[arg-type]
