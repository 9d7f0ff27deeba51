"""The `dora` command as a user runs it: real subprocesses, JSON figures with the documented keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES


def _dora(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    dora = Path(sys.executable).with_name("dora")
    return subprocess.run(
        [str(dora), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def _small_probe_set(path: Path) -> Path:
    data = json.loads((FIXTURES / "ru_probes.json").read_text(encoding="utf-8"))
    two = dict(list(data["users"].items())[:2])
    path.write_text(json.dumps({"users": two}, ensure_ascii=False), encoding="utf-8")
    return path


def test_eval_memory_json(tmp_path: Path) -> None:
    result = _dora("eval", "memory", str(_small_probe_set(tmp_path / "set.json")), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"recall@1", "recall@3", "recall@5", "recall@10", "leaks", "by_kind"} <= report.keys()
    assert report["leaks"] == 0 and 0.5 <= report["recall@10"] <= 1.0
    assert not (tmp_path / "data").exists()  # an evaluation leaves the user's data dir alone


def test_eval_memory_bad_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    for target in ("bad.json", "missing.json"):
        result = _dora("eval", "memory", target, cwd=tmp_path)
        assert result.returncode == 1
        assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_eval_locomo_json_on_a_slice(tmp_path: Path) -> None:
    locomo = Path(__file__).resolve().parents[2] / "shared" / "locomo10.json"
    if not locomo.exists():
        import pytest

        pytest.skip(f"LoCoMo not found at {locomo}")
    conv = json.loads(locomo.read_text(encoding="utf-8"))[:2]
    for c in conv:  # a slice keeps the test short; the full run is `dora eval locomo`
        c["qa"] = c["qa"][:15]
        sessions = [k for k in c["conversation"] if k.startswith("session_") and k.split("_")[-1].isdigit()]
        for key in sessions[3:]:
            del c["conversation"][key]
    (tmp_path / "lc.json").write_text(json.dumps(conv), encoding="utf-8")
    for extra in ([], ["--facts"]):
        result = _dora("eval", "locomo", "lc.json", "--json", *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert {"recall@1", "recall@10", "leaks", "by_kind", "by_category"} <= report.keys()
        assert report["leaks"] == 0 and report["leak_probes"] > 0


def test_bench_memory_json(tmp_path: Path) -> None:
    result = _dora("bench", "memory", "--sizes", "300,600", "--searches", "20", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sizes = json.loads(result.stdout)["sizes"]
    assert [s["size"] for s in sizes] == [300, 600]
    for row in sizes:
        assert row["add_per_s"] > 0 and 0 < row["search_p50_ms"] <= row["search_p95_ms"]


def test_bad_configuration_is_explained(tmp_path: Path) -> None:
    result = _dora("bench", "memory", "--sizes", "x", cwd=tmp_path)
    assert result.returncode == 1 and "--sizes" in result.stderr
    result = _dora("memory", "search", "u", "кот", cwd=tmp_path, env={"DORA_SECRET_KEY": "short"})
    assert result.returncode == 1 and "DORA_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_users_export_and_wipe_take_a_chat_user_as_dora_memory_does(tmp_path: Path) -> None:
    """`dora users export|wipe` take the same USER forms as `dora memory`: a `dora chat --user` name
    has memory and a conversation with each persona it talked to, and no bot account."""
    from tests.test_cli_chat import TINY_GGUF

    data = tmp_path / "data"
    env = {
        "DORA_DATA_DIR": str(data),
        "DORA_LLM": "local",
        "DORA_LLM_GGUF": str(TINY_GGUF),
        "DORA_LLM_REPLY_MAX_TOKENS": "8",
    }
    for persona, line in (("dora", "У меня рыжий кот Бублик."), ("mark", "Я люблю плавать по утрам.")):
        chat = subprocess.run(
            [str(Path(sys.executable).with_name("dora")), "chat", "--user", "wipe1", "--persona", persona],
            input=line + "\n",
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **env},
        )
        assert chat.returncode == 0, chat.stderr
    other = _dora("memory", "list", "wipe2", cwd=tmp_path, env=env)
    assert other.returncode == 2  # nobody else here

    exported = _dora("users", "export", "wipe1", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["user_id"] == "wipe1" and "account" not in document
    assert set(document["conversations"]) == {"dora", "mark"}
    said = [m["text"] for m in document["conversations"]["mark"]["messages"] if m["role"] == "user"]
    assert said == ["Я люблю плавать по утрам."]
    assert {e["text"] for e in document["memory"]["episodes"]} == {
        "У меня рыжий кот Бублик.",
        "Я люблю плавать по утрам.",
    }

    refused = _dora("users", "wipe", "wipe1", cwd=tmp_path, env=env)  # no --yes, no terminal
    assert refused.returncode == 1 and "--yes" in refused.stderr
    wiped = _dora("users", "wipe", "wipe1", "--yes", cwd=tmp_path, env=env)
    assert wiped.returncode == 0, wiped.stderr
    report = json.loads(wiped.stdout)["conversations_and_memory"]
    assert report["threads"] == 2 and report["rows_deleted"] >= 2 and report["key_shredded"]
    again = _dora("users", "export", "wipe1", cwd=tmp_path, env=env)
    assert again.returncode == 2 and "no data for user wipe1" in again.stderr
    assert _dora("memory", "list", "wipe1", "--all", cwd=tmp_path, env=env).returncode == 2
    assert _dora("users", "wipe", "wipe1", "--yes", cwd=tmp_path, env=env).returncode == 0  # idempotent

    # a Telegram id keeps its meaning: digits (or `tg:…`) are a bot user, account rows included
    nobody = _dora("users", "export", "tg:424242", cwd=tmp_path, env=env)
    assert nobody.returncode == 2 and "no data for user tg:424242" in nobody.stderr
    wiped_tg = _dora("users", "wipe", "424242", "--yes", cwd=tmp_path, env=env)
    assert wiped_tg.returncode == 0 and "account_rows" in json.loads(wiped_tg.stdout)
