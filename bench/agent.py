"""``dora bench agent``: what a turn costs besides the LLM, and what the local LLM gives.

Two parts: (1) the full turn (memory search, episode write, encrypted checkpoint, graph) with an
instant stub model, so the figure is DORA's own overhead; (2) the configured local model's time to
first token and tokens per second, cold (a persona prefix llama.cpp has not seen) and warm (the
same persona again, its prefix reused).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from bench.common import MESSAGES
from dora.config import Settings
from testkit.fake_chat import FakeChatModel, fixed

REPLY = "Звучит здорово, расскажи ещё!"  # what the stand-in model answers every turn


@dataclass
class OverheadResult:
    """``first_token``: from the message to the reply's first token (what the user waits for);
    ``turn``: the whole turn, including storing the message, which overlaps the reply."""

    turns: int
    first_token_p50_ms: float
    first_token_p95_ms: float
    turn_p50_ms: float
    turn_p95_ms: float


@dataclass
class LocalResult:
    model: str
    cold_ttft_s: float
    cold_tok_per_s: float
    warm_ttft_s: float
    warm_tok_per_s: float


def _pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def _overhead(settings: Settings, turns: int) -> OverheadResult:
    from dora.wiring.agent import open_companion

    stub = FakeChatModel(responder=fixed(REPLY))  # instant; structured output says nothing
    firsts: list[float] = []
    totals: list[float] = []
    async with open_companion(settings, llm_for=lambda role: stub) as companion:
        for n in range(turns + 3):
            text = MESSAGES[n % len(MESSAGES)]
            start = time.perf_counter()
            first = None
            async for event in companion.turn(f"bench-{n % 4}", "dora", text):
                if first is None and event.kind == "token":
                    first = (time.perf_counter() - start) * 1000
            elapsed = (time.perf_counter() - start) * 1000
            await companion.background.drain()  # background work is off the reply path: not timed
            if n >= 3 and first is not None:  # warm-up: first checkpoint, first index
                firsts.append(first)
                totals.append(elapsed)
    return OverheadResult(
        turns=len(totals),
        first_token_p50_ms=_pct(firsts, 50),
        first_token_p95_ms=_pct(firsts, 95),
        turn_p50_ms=_pct(totals, 50),
        turn_p95_ms=_pct(totals, 95),
    )


async def _first_token_and_rate(
    companion: Any, chat: BaseChatModel, user: str, persona: str, text: str
) -> tuple[float, float]:
    """Seconds to the first token, and tokens/s after it (counted with the model's own tokenizer:
    a streamed chunk can hold several tokens, or part of a Cyrillic letter)."""
    await companion.background.drain()  # nothing else on the cores while timing
    start = time.perf_counter()
    first: float | None = None
    last = start
    reply = ""
    async for event in companion.turn(user, persona, text):
        if event.kind == "token":
            last = time.perf_counter()
            first = first or last
        if event.kind == "reply":
            reply = event.text
    end = last  # generation speed: to the last token, not to the end of the turn's bookkeeping
    if first is None:
        return float("nan"), 0.0
    tokens = len(chat.get_token_ids(reply))
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    return first - start, rate


async def _local(settings: Settings) -> LocalResult:
    from dora.wiring.agent import open_companion
    from dora.wiring.llm import llm_registry

    registry = llm_registry(settings)
    chat = registry.get("chat")
    async with open_companion(settings, llm_for=registry.get, drain_timeout_s=0) as companion:
        # load the model outside the timing: loading is not time to first token
        await asyncio.to_thread(chat.invoke, "Привет")
        cold = await _first_token_and_rate(
            companion, chat, "bench-cold", "coach", "Привет! Давай потренируем собеседование."
        )
        await _first_token_and_rate(companion, chat, "bench-warm", "dora", "Привет!")
        warm = await _first_token_and_rate(
            companion, chat, "bench-warm", "dora", "Как ты думаешь, что почитать вечером?"
        )
    return LocalResult(
        model=str(getattr(chat, "model_path", settings.llm_gguf or "default")),
        cold_ttft_s=cold[0],
        cold_tok_per_s=cold[1],
        warm_ttft_s=warm[0],
        warm_tok_per_s=warm[1],
    )


def run_agent_bench(settings: Settings, turns: int = 50, local: bool = True) -> dict[str, Any]:
    """Both parts in a throwaway data dir (the operator's data is never touched)."""
    with tempfile.TemporaryDirectory(prefix="dora-bench-agent-") as tmp:
        base = settings.model_copy(update={"data_dir": Path(tmp), "models_dir": settings.resolved_models_dir})
        overhead = asyncio.run(_overhead(base.model_copy(update={"data_dir": Path(tmp) / "stub"}), turns))
        out: dict[str, Any] = {"overhead": overhead.__dict__}
        if local:
            result = asyncio.run(_local(base.model_copy(update={"data_dir": Path(tmp) / "local"})))
            out["local"] = result.__dict__
    return out
