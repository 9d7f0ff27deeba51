"""One LoRA run, the same for SFT and DPO: check the inputs, evaluate, train (or resume), evaluate
again, save the adapter, merge when asked, and write down what happened.

Everything that can be wrong with the inputs (the base folder, the dataset's lines, a checkpoint to
resume) is checked before the model is loaded, so a mistake costs seconds, not a model load.
The eval before training is the base model itself (a fresh LoRA adapter starts at zero); after it,
the tuned one, on the same held-out file (``DATA/{sft,dpo}_eval.jsonl``; without one, no eval).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dora.train.data_io import load_split
from dora.train.lora import TrainOptions, check_base, checkpoint_to_resume, load_model, pick_device
from dora.train.merge import RUN_INFO, merge_adapter

__all__ = ["BuildTrainer", "TrainReport", "run_training"]

BuildTrainer = Callable[[Any, Any, Any, Any, str], Any]
"""(model, tokenizer, train set, eval set or None, device) → a TRL trainer with the LoRA config."""


@dataclass
class TrainReport:
    kind: str
    device: str
    steps: int
    """The global step reached (a resumed run counts on from its checkpoint)."""
    resumed_from: str | None
    seconds: float
    train_loss: float | None
    eval_before: dict[str, float] | None
    eval_after: dict[str, float] | None
    adapter: str
    merged: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _metrics(found: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float]:
    return {k.removeprefix("eval_"): float(found[k]) for k in keys if k in found}


def run_training(
    opts: TrainOptions, build: BuildTrainer, eval_keys: tuple[str, ...], log: Callable[[str], None] = print
) -> TrainReport:
    check_base(opts.base)
    train_set = load_split(opts.data, opts.kind, "train")
    eval_set = load_split(opts.data, opts.kind, "eval", required=False)
    resume = checkpoint_to_resume(opts)
    device = pick_device(opts.device)
    if eval_set is None:
        log(f"no {opts.kind}_eval.jsonl in {opts.data}: training without an eval loss")
    log(
        f"{opts.kind}: {len(train_set)} training examples on {device}"
        + (f", resuming {resume}" if resume else "")
    )
    model, tokenizer = load_model(opts.base, device, threads=opts.threads)
    trainer = build(model, tokenizer, train_set, eval_set, device)
    dropped = len(train_set) - len(trainer.train_dataset)
    if dropped > 0:  # TRL drops an example whose reply lies wholly past --max-length
        log(
            f"{dropped} of {len(train_set)} training examples dropped: their reply starts after --max-length "
            f"{opts.max_length} tokens; raise --max-length to keep them"
        )
    before = _metrics(trainer.evaluate(), eval_keys) if eval_set is not None else None
    if before:
        log(f"eval before (the base): {_fmt(before)}")
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    after = _metrics(trainer.evaluate(), eval_keys) if eval_set is not None else None
    if after:
        log(f"eval after: {_fmt(after)}")
    trainer.save_model(str(opts.out))  # the adapter and the tokenizer, at the top of OUT
    report = TrainReport(
        kind=opts.kind,
        device=device,
        steps=int(trainer.state.global_step),
        resumed_from=resume,
        seconds=round(seconds, 2),
        train_loss=float(result.training_loss) if result.training_loss is not None else None,
        eval_before=before,
        eval_after=after,
        adapter=str(opts.out),
        merged=None,
    )
    if opts.merge:
        del trainer, model  # the base is loaded again to merge: free the training copy first (GPU memory)
        _free_memory(device)
        merged = merge_adapter(opts.base, opts.out, opts.out / "merged", device, {"kind": opts.kind})
        report.merged = str(merged)
        log(f"merged model: {merged}")
    info = {
        "base": str(Path(opts.base).resolve()),
        "data": str(Path(opts.data).resolve()),
        **report.as_json(),
    }
    (opts.out / RUN_INFO).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def _free_memory(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
