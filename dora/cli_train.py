"""``dora train sft|dpo|eval``: LoRA fine-tuning of the companion's model and its evaluation, a thin
shell over :mod:`dora.train`.

Optional: the libraries (trl, peft, datasets, accelerate) come with ``pip install -e .[train]`` and
are imported inside the commands, so ``dora --help`` stays fast and a DORA without the extra runs
everything else; a command run without them says which install line is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dora import cli_train_data

train_app = typer.Typer(
    help="Fine-tune the companion's model on conversations (LoRA SFT and DPO; needs the train extra).",
    no_args_is_help=True,
)
cli_train_data.register(train_app)  # `dora train data`: the set built from shared conversations
out = Console()
err = Console(stderr=True)

TRAIN_LIBS = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")

Base = Annotated[
    Path, typer.Option("--base", help="The base model: a local Hugging Face folder with a chat template.")
]
Data = Annotated[Path, typer.Option("--data", help="The dataset folder (`dora train data --out`).")]
Out = Annotated[Path, typer.Option("--out", help="Where the adapter, checkpoints and --merge's merged/ go.")]
LoraR = Annotated[int, typer.Option("--lora-r", help="LoRA rank.")]
LoraAlpha = Annotated[int | None, typer.Option("--lora-alpha", help="LoRA alpha (default: 2 × rank).")]
Epochs = Annotated[float, typer.Option("--epochs", help="Passes over the training set (unless --max-steps).")]
MaxSteps = Annotated[int | None, typer.Option("--max-steps", help="Stop after this many optimizer steps.")]
Lr = Annotated[float | None, typer.Option("--lr", help="Learning rate (default: 2e-4 SFT, 5e-5 DPO).")]
Batch = Annotated[int, typer.Option("--batch-size", help="Examples per step and device.")]
GradAccum = Annotated[int, typer.Option("--grad-accum", help="Batches per optimizer step.")]
MaxLength = Annotated[
    int, typer.Option("--max-length", help="Longest example, tokens (the end of a longer one is cut).")
]
SaveSteps = Annotated[int, typer.Option("--save-steps", help="A checkpoint every N steps (and at the end).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")]
Merge = Annotated[
    bool, typer.Option("--merge", help="Also write OUT/merged: base + adapter, ready to serve.")
]
Threads = Annotated[int, typer.Option("--threads", help="CPU threads for torch (on CPU; default 1).")]
Device = Annotated[str | None, typer.Option("--device", help="cpu or cuda (default: cuda when present).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object at the end.")]


def _error(message: str) -> None:
    """One line, as the other commands print errors; the message is text, never markup ('[train]')."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True, highlight=False)


@contextmanager
def _train_errors() -> Iterator[None]:
    """The extra not installed, or a mistake in the input: one line naming the fix, exit code 1."""
    from dora.train.errors import TrainError

    try:
        yield
    except TrainError as exc:
        _error(str(exc))
        raise typer.Exit(1) from None
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] not in TRAIN_LIBS:
            raise
        _error(
            f"dora train needs the train extra ({exc.name} is missing): "
            "pip install -e '.[train]' (torch first, as `make setup` installs it)"
        )
        raise typer.Exit(1) from None


def _quiet_hub() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads: the base is a local folder
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # the training bar is the one that tells


def _log(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False))
        return
    table = Table(title=f"dora train {report.kind} on {report.device}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("steps (global)", str(report.steps))
    table.add_row("seconds training", f"{report.seconds:.1f}")
    if report.train_loss is not None:
        table.add_row("mean training loss", f"{report.train_loss:.4f}")
    for key in dict.fromkeys([*(report.eval_before or {}), *(report.eval_after or {})]):
        before = (report.eval_before or {}).get(key)
        after = (report.eval_after or {}).get(key)
        table.add_row(
            f"eval {key}: before → after",
            f"{'?' if before is None else f'{before:.4f}'} → {'?' if after is None else f'{after:.4f}'}",
        )
    table.add_row("adapter", report.adapter)
    if report.merged:
        table.add_row("merged model", report.merged)
    out.print(table)
    if report.merged:
        out.print(f"serve it: DORA_LLM=transformers DORA_LLM_MODEL={report.merged} dora chat", soft_wrap=True)


def _train(kind: str, run: Callable[..., Any], as_json: bool, **options: Any) -> None:
    _quiet_hub()
    with _train_errors():
        from dora.train.lora import TrainOptions

        paths = {k: Path(options.pop(k)).resolve() for k in ("base", "data", "out")}
        report = run(TrainOptions(kind=kind, **paths, **options), log=_log)  # type: ignore[arg-type]
    _print_report(report, as_json)


@train_app.command("sft")
def sft(
    base: Base,
    data: Data,
    out_dir: Out,
    lora_r: LoraR = 16,
    lora_alpha: LoraAlpha = None,
    epochs: Epochs = 1.0,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    batch_size: Batch = 4,
    grad_accum: GradAccum = 1,
    max_length: MaxLength = 2048,
    save_steps: SaveSteps = 50,
    resume: Resume = False,
    merge: Merge = False,
    threads: Threads = 1,
    device: Device = None,
    as_json: AsJson = False,
) -> None:
    """Supervised LoRA fine-tuning on DATA/sft_train.jsonl (loss on the assistant's replies), eval loss
    on DATA/sft_eval.jsonl before and after; GPU when present, else CPU."""
    from dora.train.sft import run_sft

    _train(
        "sft",
        run_sft,
        as_json,
        base=base,
        data=data,
        out=out_dir,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        save_steps=save_steps,
        resume=resume,
        merge=merge,
        threads=threads,
        device=device,
    )


@train_app.command("dpo")
def dpo(
    base: Base,
    data: Data,
    out_dir: Out,
    lora_r: LoraR = 16,
    lora_alpha: LoraAlpha = None,
    epochs: Epochs = 1.0,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    batch_size: Batch = 4,
    grad_accum: GradAccum = 1,
    max_length: MaxLength = 2048,
    save_steps: SaveSteps = 50,
    beta: Annotated[
        float, typer.Option("--beta", help="DPO β: how far the model may move from the base.")
    ] = 0.1,
    resume: Resume = False,
    merge: Merge = False,
    threads: Threads = 1,
    device: Device = None,
    as_json: AsJson = False,
) -> None:
    """Preference (DPO) LoRA tuning on DATA/dpo_train.jsonl (👍 chosen over 👎 rejected), against the
    base itself; eval loss and reward margin on DATA/dpo_eval.jsonl before and after."""
    from dora.train.dpo import run_dpo

    _train(
        "dpo",
        run_dpo,
        as_json,
        base=base,
        data=data,
        out=out_dir,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        save_steps=save_steps,
        beta=beta,
        resume=resume,
        merge=merge,
        threads=threads,
        device=device,
    )


@train_app.command("eval")
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="`dora train`'s --out (the adapter) or OUT/merged.")],
    data: Data,
    base: Annotated[
        Path | None,
        typer.Option("--base", help="The base to compare with (default: the one the run recorded)."),
    ] = None,
    report_file: Annotated[
        Path | None, typer.Option("--out", help="The Markdown report (default: MODEL/dora-eval.md).")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Held-out prompts to answer side by side.")] = 20,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest reply, tokens.")] = 48,
    threads: Threads = 1,
    device: Device = None,
    as_json: AsJson = False,
) -> None:
    """Eval loss of base and tuned on DATA/sft_eval.jsonl (and DPO's on dpo_eval.jsonl when present),
    and both models' replies to held-out prompts side by side, in a Markdown file."""
    _quiet_hub()
    with _train_errors():
        from dora.train.evaluate import run_eval

        report = run_eval(
            model.resolve(),
            data.resolve(),
            base=base.resolve() if base else None,
            out=report_file,
            n=n,
            max_new_tokens=max_new_tokens,
            device=device,
            threads=threads,
            log=_log,
        )
    if as_json:
        typer.echo(json.dumps(report.__dict__, ensure_ascii=False))
        return
    for name, metrics in report.sft.items():
        out.print(f"sft eval loss, {name}: {metrics.get('loss', float('nan')):.4f}")
    if report.dpo:
        out.print(
            "dpo eval, tuned against the base: " + ", ".join(f"{k} {v:.4f}" for k, v in report.dpo.items())
        )
    out.print(f"side by side: {report.out}")
