"""``dora users export|wipe``: answer one user's data request in one command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.identity import agent_user_id, user_ref
from bot.identity import telegram_id as telegram_id_of
from dora.config import Settings, load_settings

users_app = typer.Typer(help="One user's data: export it, or wipe it everywhere.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@asynccontextmanager
async def _stores(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """The bot's accounts and the companion (no LLM is loaded: none is needed here)."""
    from bot.db.engine import create_engine_and_sessions, migrate
    from bot.db.repo import Accounts
    from dora.wiring.agent import open_companion
    from dora.wiring.bot import database_url

    url = database_url(settings)
    await migrate(url)
    engine, sessions = create_engine_and_sessions(url)

    def no_llm(role: str) -> Any:
        raise RuntimeError("no LLM is needed to export or wipe")

    try:
        async with open_companion(settings, llm_for=no_llm, drain_timeout_s=0) as companion:  # type: ignore[arg-type]
            yield Accounts(sessions), companion
    finally:
        await engine.dispose()


def _day(value: Any) -> str:
    """The date of a timestamp as the account rows carry it (ISO text or a datetime); "" for none."""
    return str(value)[:10] if value else ""


@users_app.command("list")
def list_users() -> None:
    """Every bot user: language, persona, PRO, and how much DORA remembers about them."""
    from rich.table import Table

    async def go() -> list[dict[str, Any]]:
        async with _stores(load_settings()) as (accounts, companion):
            users = await accounts.list_users()
            for user in users:
                user["memory"] = companion.memory_counts(agent_user_id(user["id"]))
            return users

    users = asyncio.run(go())
    table = Table(title=f"{len(users)} users")
    for col in (
        "id",
        "language",
        "persona",
        "PRO until",
        "since",
        "last seen",
        "facts",
        "episodes",
        "blocked",
        "minor",
    ):
        table.add_column(col)
    for u in users:
        table.add_row(
            str(u["id"]),
            u["language"],
            u["persona_id"] or "",
            f"{u['pro_until']:%Y-%m-%d}" if u["pro_until"] else "",
            str(u.get("created_at") or "")[:10],
            f"{u['last_seen']:%Y-%m-%d %H:%M}" if u.get("last_seen") else "",
            str(u["memory"]["facts"]),
            str(u["memory"]["episodes"]),
            "yes" if u["blocked_bot"] else "",
            _day(u.get("minor_since")),
        )
    out.print(table)


@users_app.command("show")
def show_user(telegram_id: Annotated[int, typer.Argument(help="The user's Telegram id.")]) -> None:
    """One user's account, consents, PRO, payments and memory counts, and whether they are a minor."""

    async def go() -> dict[str, Any]:
        async with _stores(load_settings()) as (accounts, companion):
            account = await accounts.export_account(telegram_id)
            account["memory"] = companion.memory_counts(agent_user_id(telegram_id))
            return account

    account = asyncio.run(go())
    if account["user"] is None:
        err.print(f"[yellow]no user {telegram_id}[/]")
        raise typer.Exit(2)
    # to stderr, for the operator's eye: stdout stays one JSON document for scripts
    since = _day(account["user"].get("minor_since"))
    err.print(f"minor: since {since}" if since else "minor: no")
    out.print_json(json.dumps(account, default=str, ensure_ascii=False))


USER_HELP = "The user: a Telegram id, or a `dora chat --user` name (as `dora memory` takes)."


def _who(user: str) -> tuple[str, int | None]:
    """The agent's user id for what the operator typed, and the Telegram id when it is a bot user
    (whose account rows go too); the same forms as `dora memory` (digits: a Telegram id)."""
    if not user.strip():
        err.print("[bold red]error:[/] a user is required (a Telegram id or a `dora chat --user` name)")
        raise typer.Exit(1)
    uid = user_ref(user)
    return uid, telegram_id_of(uid)


@users_app.command("export")
def export(
    user: Annotated[str, typer.Argument(help=USER_HELP)],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Everything stored about the user, decrypted, as one JSON document (what /export sends)."""
    from bot.data_rights import export_user

    uid, tg_id = _who(user)

    async def go() -> dict[str, Any]:
        async with _stores(load_settings()) as (accounts, companion):
            if tg_id is not None:
                return await export_user(accounts, companion, tg_id)
            return {
                "exported_at": datetime.now(UTC).isoformat(),
                "user_id": uid,
                **await companion.export_user(uid),
            }

    document = asyncio.run(go())
    memory = document["memory"]
    if (
        (document.get("account") or {}).get("user") is None
        and not document["conversations"]
        and not memory.get("episodes")
        and not memory.get("facts")
    ):
        err.print(f"[yellow]no data for user {user}[/]")
        raise typer.Exit(2)
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if out_file is None:
        sys.stdout.write(text + "\n")
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"[bold red]error:[/] cannot write {out_file}: {exc.strerror}")
        raise typer.Exit(1) from None
    err.print(f"wrote {out_file}")


@users_app.command("wipe")
def wipe(
    user: Annotated[str, typer.Argument(help=USER_HELP)],
    yes: Annotated[bool, typer.Option("--yes", help="Don't ask (required when not on a terminal).")] = False,
) -> None:
    """Delete the user from every store (memory, every persona's conversation, keys, and a bot user's
    account); idempotent (running it again finishes an interrupted wipe)."""
    from bot.data_rights import wipe_user

    uid, tg_id = _who(user)
    if not yes:
        if not sys.stdin.isatty():
            err.print("[bold red]error:[/] refusing to wipe without --yes when not on a terminal")
            raise typer.Exit(1)
        typer.confirm(f"Delete everything about user {user}?", abort=True)

    async def go() -> dict[str, Any]:
        async with _stores(load_settings()) as (accounts, companion):
            if tg_id is not None:
                return await wipe_user(accounts, companion, tg_id)
            return {"conversations_and_memory": await companion.wipe_user(uid)}

    report = asyncio.run(go())
    out.print_json(json.dumps(report, default=str))
