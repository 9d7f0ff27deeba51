"""``dora train data``: the training set from shared conversations (see :mod:`dora.train.dataset`).

A module of its own with :func:`register`, so the ``train`` command group can gather its commands
from more than one module."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dora.config import load_settings

err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command to ``app`` (the ``dora train`` group)."""
    app.command("data")(train_data)


def train_data(
    out: Annotated[Path, typer.Option(help="Where the JSONL files and the dataset card go.")] = Path(
        "train-data"
    ),
    mix: Annotated[
        list[Path] | None,
        typer.Option(help="An open-licensed dialogue JSONL in the same formats to mix in (repeatable)."),
    ] = None,
    eval_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of turns held out.")] = 0.1,
    no_scrub: Annotated[
        bool, typer.Option("--no-scrub", help="Keep names, numbers and addresses (not recommended).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Shuffles the split.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (DORA_DATA_DIR).")] = None,
) -> None:
    """Build SFT examples and preference pairs from the conversations users share for training
    (/share_for_training), personal data scrubbed, split into train and eval, with a dataset card."""
    from dora.train.dataset import MixError, build, write
    from dora.train.scrub import ScrubberMissingError
    from dora.train.source import shared_examples
    from dora.wiring.agent import build_personas

    try:
        settings = load_settings(**({"data_dir": data_dir} if data_dir else {}))
    except Exception as exc:  # pydantic explains which variable is wrong
        err.print(f"[bold red]error:[/] bad configuration: {exc}")
        raise typer.Exit(1) from None
    try:
        shared = asyncio.run(shared_examples(settings))
        built = build(shared, build_personas(settings), mix=mix or [], scrub=not no_scrub)
    except (MixError, ScrubberMissingError) as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    figures = write(out, built, eval_fraction, seed, scrubbed=not no_scrub)
    files = figures["files"]
    typer.echo(
        f"{out}: {figures['sft_examples']} SFT examples and {figures['preference_pairs']} preference pairs "
        f"from {figures['users']} users; SFT {files['sft_train']}/{files['sft_eval']}, "
        f"DPO {files['dpo_train']}/{files['dpo_eval']} (train/eval); card: {out / 'README.md'}"
    )
