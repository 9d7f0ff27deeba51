"""``dora eval dialogue``: scripted scenarios through the real companion (see :mod:`bench.dialogue`).

Kept apart from :mod:`dora.cli` because it is the one evaluation that runs the configured chat
backend end to end: a throwaway data dir, the operator's models, and minutes per scenario on a CPU.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dora.config import Settings, load_settings

console = Console(stderr=True)
out = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


async def _run(
    settings: Settings,
    scenarios: list[Any],
    repeat: int,
    quiet: bool,
    tell_once: bool,
    told: frozenset[str] = frozenset(),
    every_reply: bool = False,
) -> list[Any]:
    from bench.dialogue import Outcome, run_all
    from dora.wiring.agent import open_companion

    def progress(o: Outcome) -> None:
        if not quiet:
            mark = "[green]✓[/]" if o.passed else "[red]✗[/]"
            console.print(f"{mark} {o.scenario.id} ({o.reply_s:.1f} s)")
            if not o.passed or every_reply:
                console.print(f"    {o.reply}", markup=False, soft_wrap=True)
                if o.read:
                    console.print(f"    (the reader: {o.read})", markup=False, soft_wrap=True)

    async with open_companion(settings) as companion:
        await companion.warm_up()
        return await run_all(companion, scenarios, repeat, progress, tell_once=tell_once, told=told)


async def _tell_into(settings: Settings, scenarios: list[Any], record: Path, quiet: bool) -> frozenset[str]:
    """Tell the scenarios not yet told into ``settings.data_dir``, noting each id in ``record`` as it
    is done (an interrupted run keeps what it told)."""
    from bench.dialogue import tell, told_user
    from dora.wiring.agent import open_companion

    done = set(json.loads(record.read_text())) if record.exists() else set()
    todo = [s for s in scenarios if s.id not in done]
    if todo:
        async with open_companion(settings) as companion:
            await companion.warm_up()
            for s in todo:
                await tell(companion, s, told_user(s))
                done.add(s.id)
                record.write_text(json.dumps(sorted(done)))
                if not quiet:
                    console.print(f"told {s.id}")
    return frozenset(done)


def eval_dialogue(
    dataset: Annotated[
        Path,
        typer.Argument(
            help='Scenarios: {"scenarios": [{"id", "lang", "tell": [...], "ask", "expect_any": [...]}]}.'
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    repeat: Annotated[int, typer.Option(min=1, help="Run each scenario K times (the backend samples).")] = 1,
    tell_once: Annotated[
        bool,
        typer.Option(
            "--tell-once",
            help="Tell each scenario once and ask it --repeat times (faster; for tuning a prompt: "
            "measures the reply's sampling, not the fact extraction's).",
        ),
    ] = False,
    told: Annotated[
        Path | None,
        typer.Option(
            help="Keep the told users in this folder and reuse them on later runs (implies --tell-once; "
            "each run asks a fresh copy): prompt tuning without retelling.",
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(help="Only scenarios whose id starts with this (e.g. ru-pet; several: ru-pet,en-pet)."),
    ] = None,
    replies: Annotated[
        bool,
        typer.Option("--replies", help="Print every reply, not only the failures (without --json)."),
    ] = False,
) -> None:
    """Does the reply use what DORA remembers? Tell, start a new thread, ask: hit rate per language."""
    try:
        from bench.dialogue import ScenarioError, load_scenarios, report
    except ModuleNotFoundError as exc:  # an installed copy: bench/ is not in the wheel
        if exc.name not in ("bench", "testkit"):
            raise
        console.print(
            "[bold red]error:[/] dora eval dialogue needs a source checkout: "
            "run it from a clone set up with `make setup`",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    from dora.wiring.runtime import limit_threads

    limit_threads()
    try:
        scenarios = load_scenarios(dataset)
    except ScenarioError as exc:
        _fail(str(exc))
        raise
    if only:
        scenarios = [s for s in scenarios if s.id.startswith(tuple(p.strip() for p in only.split(",")))]
        if not scenarios:
            _fail(f"no scenario id starts with {only!r}")
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic explains which variable is wrong
        _fail(f"bad configuration: {exc}")
        raise
    with tempfile.TemporaryDirectory(prefix="dora-eval-dialogue-") as tmp:
        # a throwaway store and threads; the operator's models and backend as configured
        base = settings.model_copy(update={"data_dir": Path(tmp), "models_dir": settings.resolved_models_dir})
        if told is None:
            outcomes = asyncio.run(
                _run(base, scenarios, repeat, quiet=as_json, tell_once=tell_once, every_reply=replies)
            )
        else:
            told.mkdir(parents=True, exist_ok=True)
            kept = base.model_copy(update={"data_dir": told.resolve()})
            done = asyncio.run(_tell_into(kept, scenarios, told / "told.json", quiet=as_json))
            shutil.copytree(told, Path(tmp) / "asked")
            asked = base.model_copy(update={"data_dir": Path(tmp) / "asked"})
            outcomes = asyncio.run(
                _run(asked, scenarios, repeat, quiet=as_json, tell_once=True, told=done, every_reply=replies)
            )
    result = report(outcomes)
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    once = ", told once" if tell_once or told else ""
    table = Table(title=f"{dataset.name}: {len(scenarios)} scenarios × {repeat}{once}")
    for col in ("lang", "n", "hit rate"):
        table.add_column(col, justify="left" if col == "lang" else "right")
    for lang, row in result["by_lang"].items():
        table.add_row(lang, str(row["n"]), f"{row['hit_rate']:.3f}")
    table.add_row("[bold]all", str(result["n"]), f"[bold]{result['hit_rate']:.3f}")
    out.print(table)
    out.print(
        f"mean reply: {result['mean_reply_s']} s   replies that said a changed fact's old value: "
        f"{result['contradictions']}"
    )
    for f in result["failures"]:
        out.print(f"  ✗ {f['id']}: {f['reply']}", markup=False)
