"""``dora checkins due``: what DORA would write first at a given moment, and why, without sending
anything (the operator's dry run of :mod:`agent.presence.checkins`)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dora.config import load_settings

checkins_app = typer.Typer(help="DORA writing first: check-ins.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _moment(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        err.print(f"[red]--at must be an ISO time like 2026-12-08T12:00:00+03:00, not {text!r}[/]")
        raise typer.Exit(2) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _no_llm(role: str) -> Any:
    raise RuntimeError("a dry run writes nothing: no LLM is needed")


@checkins_app.command("due")
def due(
    at: Annotated[
        str | None, typer.Option(help="The moment to ask about (ISO; default: now; no zone: UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What would be sent at that moment (Telegram users and `dora chat` users alike) and why."""
    from dora.wiring.agent import open_companion

    moment = _moment(at)
    settings = load_settings()

    async def go() -> list[dict[str, Any]]:
        async with open_companion(settings, llm_for=_no_llm, drain_timeout_s=0) as companion:  # type: ignore[arg-type]
            if companion.checkins is None:
                return []
            return [d.as_json() for d in await companion.checkins.due(moment)]

    found = asyncio.run(go())
    if as_json:
        typer.echo(json.dumps({"at": moment.isoformat(), "due": found}, ensure_ascii=False))
        return
    if not found:
        out.print(f"Nothing is due at {moment.isoformat()}.")
        return
    table = Table(title=f"Check-ins due at {moment.isoformat()}")
    for column in ("user", "persona", "reason", "about", "at"):
        table.add_column(column)
    for item in found:
        table.add_row(*(str(item[c]) for c in ("user", "persona", "reason", "about", "at")))
    out.print(table)
