"""``dora chat``: the terminal chat on the embedded defaults.

On a terminal it streams tokens and reads one message per prompt; when stdin is a pipe it reads one
message per line and prints each reply followed by a blank line, so it can be scripted. Notices and
``--show-memory`` output go to stderr, so stdout holds nothing but replies.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.prompt import Prompt
from rich.table import Table

from agent.companion import Companion, TurnEvent
from agent.prompts import FORGET_DONE, FORGET_KEPT
from dora.config import Settings, load_settings
from dora.wiring.agent import build_personas, open_companion

err = Console(stderr=True)
QUIT = {"/quit", "/exit", "/q", "выход"}
YES = {"y", "yes", "д", "да", "ага", "угу", "конечно", "забудь", "+"}


def chat(
    user: Annotated[str, typer.Option(help="Who is talking (memory and history are per user).")] = "local",
    persona: Annotated[str | None, typer.Option(help="Persona id; asked on a terminal when omitted.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (DORA_DATA_DIR).")] = None,
    show_memory: Annotated[
        bool,
        typer.Option(
            "--show-memory", help="Print which memories and lorebook entries each reply was given, and why."
        ),
    ] = False,
) -> None:
    """Talk to a persona; memory persists across runs."""
    settings = load_settings(**({"data_dir": data_dir} if data_dir else {}))
    interactive = sys.stdin.isatty()
    persona_id = persona or (_pick_persona(settings) if interactive else "dora")
    build_personas(settings).get(persona_id)  # an unknown id fails now, with the list of known ones
    asyncio.run(_chat(settings, user, persona_id, interactive, show_memory))


def _pick_persona(settings: Settings) -> str:
    cards = build_personas(settings).list()
    table = Table(title="С кем поговорим?", show_lines=False)
    for col in ("#", "id", "имя", "о ком"):
        table.add_column(col)
    for n, card in enumerate(cards, start=1):
        table.add_row(str(n), card.id, card.name, card.tagline("ru"))
    err.print(table)
    default = next((str(n) for n, c in enumerate(cards, start=1) if c.id == "dora"), "1")
    choice = Prompt.ask("Номер или id", console=err, default=default)
    if choice.isdigit() and 1 <= int(choice) <= len(cards):
        return cards[int(choice) - 1].id
    return choice.strip()


async def _chat(settings: Settings, user: str, persona_id: str, interactive: bool, show_memory: bool) -> None:
    async with open_companion(settings) as companion:
        if interactive:
            await _interactive(companion, user, persona_id, show_memory)
        else:
            await _scripted(companion, user, persona_id, show_memory)
        pending = companion.background.pending()
        if pending and interactive:
            err.print("[dim]Запоминаю сказанное…[/]")


async def _warm(companion: Companion, persona_id: str) -> None:
    await companion.warm_up()
    await companion.prewarm(persona_id)


async def _interactive(companion: Companion, user: str, persona_id: str, show_memory: bool) -> None:
    card = companion.personas.get(persona_id)
    greeting = await companion.greet(user, persona_id)
    warming = asyncio.create_task(_warm(companion, persona_id))  # while the user types
    err.print(f"[dim]{card.name} на связи. Выход: /quit или Ctrl-D.[/]")
    if greeting:
        print(f"{card.name}: {greeting}\n")
    for name, text in await _checkins_due(companion, user):
        print(f"{name}: {text}\n")
    loop = asyncio.get_running_loop()
    while True:
        try:
            text = await loop.run_in_executor(None, input, "Вы: ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text.strip().lower() in QUIT:
            warming.cancel()
            return
        await _seen(companion, user, persona_id)
        print(f"{card.name}: ", end="", flush=True)
        streamed = False
        question = None
        async for event in companion.turn(user, persona_id, text):
            streamed = _show(event, streamed, show_memory, stream=True)
            question = event if event.kind == "forget" else question
        print("\n")
        if question is not None and question.forget is not None and question.forget.plan_id:
            try:
                answer = await loop.run_in_executor(None, input, "да/нет: ")
            except (EOFError, KeyboardInterrupt):
                answer = ""
            print(await _answer_forget(companion, user, question, answer) + "\n")


async def _scripted(companion: Companion, user: str, persona_id: str, show_memory: bool) -> None:
    await companion.warm_up()  # models load before anything is printed (see Companion.warm_up)
    question: TurnEvent | None = None
    for line in sys.stdin:
        text = line.rstrip("\n")
        if not text.strip():
            continue
        if question is not None:  # the line after "forget this?" is its answer
            print(await _answer_forget(companion, user, question, text) + "\n", flush=True)
            question = None
            continue
        await _seen(companion, user, persona_id)
        async for event in companion.turn(user, persona_id, text):
            _show(event, False, show_memory, stream=False)
            if event.kind == "forget" and event.forget is not None and event.forget.plan_id:
                question = event
        print(flush=True)


async def _seen(companion: Companion, user: str, persona_id: str) -> None:
    """The user wrote: check-ins learn it (see agent.presence)."""
    if companion.checkins is not None:
        await companion.checkins.seen(user, "chat", persona_id, companion.checkins.clock())


async def _checkins_due(companion: Companion, user: str) -> list[tuple[str, str]]:
    """What the persona would have written first while the user was away, shown at start (a
    terminal has no way to reach the user before that); each one once."""
    checkins = companion.checkins
    if checkins is None:
        return []
    now = checkins.clock()
    shown = []
    for due in await checkins.take(now, f"chat:{os.getpid()}", "chat", user_id=user):
        text = await companion.write_first(due, now)
        if text is None:
            await checkins.cancel(due, "forgotten")
            continue
        await checkins.sent(due, f"chat:{os.getpid()}", now)
        await companion.said_first(due, text)
        shown.append((companion.personas.get(due.persona_id).name, text))
    return shown


async def _answer_forget(companion: Companion, user: str, question: TurnEvent, answer: str) -> str:
    """Carry out or drop a request to forget, by the user's y/n; the line to print."""
    assert question.forget is not None and question.forget.plan_id
    lang = question.forget.lang
    if answer.strip().lower().strip(".!") in YES:
        result = await companion.forget(user, question.forget.plan_id)
        if result is not None:
            return FORGET_DONE[lang]
    await companion.cancel_forget(user, question.forget.plan_id)
    return FORGET_KEPT[lang]


def _show(event: TurnEvent, streamed: bool, show_memory: bool, *, stream: bool) -> bool:
    """Print one event; returns whether reply tokens have been printed."""
    if event.kind == "token":
        if stream:
            print(event.text, end="", flush=True)
            return True
        return streamed
    if event.kind == "notice":
        err.print(f"[yellow]{event.text}[/]")
        return streamed
    if not streamed:
        print(event.text, flush=True)
    if show_memory:
        if event.recalled:
            err.print("[dim]memories given to this reply:[/]")
            for r in event.recalled:
                err.print(f"[dim]  {r.line}\n     ({r.kind}; {r.why})[/]")
        else:
            err.print("[dim]no memories were given to this reply[/]")
        if event.read:
            err.print(f"[dim]read out of them for this message: {event.read}[/]")
        if event.lore:
            err.print("[dim]lorebook entries given to this reply:[/]")
            for entry in event.lore:
                err.print(f"[dim]  {entry.name} ({entry.why})[/]")
    return True
