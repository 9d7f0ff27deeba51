"""``dora eval dialogue``: scripted scenarios through the real companion (see :mod:`bench.dialogue`).

Kept apart from :mod:`dora.cli` because it is the one evaluation that runs the configured chat
backend end to end: a throwaway data dir, the operator's models, and minutes per scenario on a CPU.
"""

from __future__ import annotations

import asyncio
import json
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


async def _run(settings: Settings, scenarios: list[Any], repeat: int, quiet: bool) -> list[Any]:
    from bench.dialogue import Outcome, run_all
    from dora.wiring.agent import open_companion

    def progress(o: Outcome) -> None:
        if not quiet:
            mark = "[green]✓[/]" if o.passed else "[red]✗[/]"
            console.print(f"{mark} {o.scenario.id} ({o.reply_s:.1f} s)")

    async with open_companion(settings) as companion:
        await companion.warm_up()
        return await run_all(companion, scenarios, repeat, progress)


def eval_dialogue(
    dataset: Annotated[
        Path,
        typer.Argument(
            help='Scenarios: {"scenarios": [{"id", "lang", "tell": [...], "ask", "expect_any": [...]}]}.'
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    repeat: Annotated[int, typer.Option(min=1, help="Run each scenario K times (the backend samples).")] = 1,
    only: Annotated[
        str | None, typer.Option(help="Only scenarios whose id starts with this (e.g. ru-pet).")
    ] = None,
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
        scenarios = [s for s in scenarios if s.id.startswith(only)]
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
        outcomes = asyncio.run(_run(base, scenarios, repeat, quiet=as_json))
    result = report(outcomes)
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    table = Table(title=f"{dataset.name}: {len(scenarios)} scenarios × {repeat}")
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
