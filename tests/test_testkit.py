"""The line between the product and what only measures or stands in for it: the one fake chat model
behaves like a real one, the product never imports bench/testkit/tests, the wheel holds the product
only, and the commands that need a checkout say so from an installed copy."""

from __future__ import annotations

import ast
import asyncio
import importlib.abc
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from setuptools import find_packages
from typer.testing import CliRunner

from agent.llm.structured import structured
from dora.cli import app
from memory.extraction import ExtractedFacts
from memory.reconcile import Action, ReconcileDecision
from testkit.fake_chat import FakeChatModel, Streamed, echo, fixed, scripted

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("agent", "bot", "tools", "memory", "personas", "common", "dora")


def test_fake_answers_text_streams_it_and_gives_structured_output_through_tool_calls() -> None:
    model = FakeChatModel(responder=fixed("Звучит здорово, расскажи ещё!"))
    assert model.invoke("привет").content == "Звучит здорово, расскажи ещё!"
    pieces = [chunk.content for chunk in model.stream("привет")]
    assert len([p for p in pieces if p]) == 4 and "".join(pieces) == "Звучит здорово, расскажи ещё!"
    assert structured(model, ExtractedFacts).invoke("x") == ExtractedFacts(facts=[])
    assert structured(model, ReconcileDecision).invoke("x").action is Action.NOOP


def test_scripted_records_calls_and_fails_like_a_backend() -> None:
    model = scripted(lambda tool, messages: {"facts": []} if tool else Streamed(["Сл"], TimeoutError("x")))
    assert structured(model, ExtractedFacts).invoke("x") == ExtractedFacts(facts=[])
    with pytest.raises(TimeoutError):
        list(model.stream("x"))
    assert [tool for tool, _ in model.calls or []] == ["ExtractedFacts", ""]


def test_latency_waits_without_blocking_the_loop_when_not_threaded() -> None:
    model = FakeChatModel(responder=echo(), latency_s=0.3, threaded=False)

    async def three_at_once() -> tuple[list[str], float]:
        start = time.perf_counter()
        replies = await asyncio.gather(*(model.ainvoke([HumanMessage(f"#{k}")]) for k in range(3)))
        return [str(r.content) for r in replies], time.perf_counter() - start

    replies, took = asyncio.run(three_at_once())
    assert replies == ["Ответ на: #0", "Ответ на: #1", "Ответ на: #2"] and took < 0.8


def test_a_blocking_responder_runs_off_the_event_loop_by_default() -> None:
    threads: list[int] = []

    def respond(tool: str, messages: list) -> str:
        threads.append(threading.get_ident())
        return "ок"

    async def go() -> int:
        await scripted(respond).ainvoke("x")
        return threading.get_ident()

    loop_thread = asyncio.run(go())
    assert threads and threads[0] != loop_thread


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {
        n.module.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0
    }
    return roots


def test_the_product_never_imports_benches_test_doubles_or_tests() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {sorted(bad)}"
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if (bad := _imported_roots(path) & {"bench", "testkit", "tests"})
    ]
    # dora/cli.py, cli_bench_mem0.py and cli_dialogue.py import bench and testkit lazily, inside the
    # commands that need a checkout
    assert sorted(offenders) == [
        "dora/cli.py: ['bench', 'testkit']",
        "dora/cli_bench_mem0.py: ['bench']",
        "dora/cli_dialogue.py: ['bench']",
    ]


def test_the_wheel_holds_the_product_only() -> None:
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packaged = {name.split(".")[0] for name in find_packages(str(ROOT), include=find["include"])}
    assert packaged == set(PRODUCT)


class _WheelInstall(importlib.abc.MetaPathFinder):
    """Finds no ``bench`` or ``testkit``, as in an environment that has only the wheel."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name in ("bench", "testkit"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def test_commands_that_need_a_checkout_say_so_from_an_installed_copy(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DORA_DATA_DIR", str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0] in ("bench", "testkit")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_WheelInstall(), *sys.meta_path])
    for command in (
        ["bench", "agent", "--no-local"],
        ["demo", "seed"],
        ["eval", "locomo", "x.json"],
        ["eval", "dialogue", "x.json"],
    ):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "needs a source checkout" in result.output and "Traceback" not in result.output
