"""What SFT and DPO share: the options, the device, the base model, the LoRA adapter's shape and the
Trainer's arguments. One place, so the two commands cannot drift apart (a GPU run in bf16 for one
and fp32 for the other, a different checkpoint policy).

Choices, and why:

- **The device** is CUDA when torch sees one, else the CPU (slow, but it runs: the tests train a
  tiny model there). On CPU the weights stay fp32 (bf16 autocast is slower there) and the intra-op
  threads are ``--threads`` (1 by default: on two cores the bot and the embedder share the CPU); on
  a GPU the checkpoint's own dtype, bf16 mixed precision where the card has it, and gradient
  checkpointing (TRL's default) to fit longer conversations.
- **LoRA on every linear layer** (``target_modules="all-linear"``), rank 16 and alpha 2×rank by
  default: PEFT's recommended shape for chat fine-tuning, which works on any causal LM without
  naming its layers.
- **Checkpoints** every ``--save-steps`` and at the end, the last three kept, with the optimizer's
  state, so ``--resume`` continues the same run (the step count goes on, it does not start again).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dora.train.errors import TrainError

__all__ = [
    "TrainOptions",
    "check_base",
    "checkpoint_to_resume",
    "load_model",
    "lora_config",
    "pick_device",
    "training_args",
]

DEFAULT_LR = {"sft": 2e-4, "dpo": 5e-5}


@dataclass(frozen=True)
class TrainOptions:
    """What ``dora train sft|dpo`` was asked to do (the CLI's options, as plain values)."""

    kind: Literal["sft", "dpo"]
    base: Path
    data: Path
    out: Path
    lora_r: int = 16
    lora_alpha: int | None = None
    """``None``: twice the rank."""
    lora_dropout: float = 0.05
    epochs: float = 1.0
    max_steps: int | None = None
    """``None``: as many as ``epochs`` take."""
    lr: float | None = None
    """``None``: 2e-4 for SFT, 5e-5 for DPO."""
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 2048
    save_steps: int = 50
    beta: float = 0.1
    """DPO's β: how far the tuned model may move from the base."""
    resume: bool = False
    merge: bool = False
    threads: int = 1
    device: str | None = None
    seed: int = 0

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.kind]


def pick_device(requested: str | None = None) -> str:
    import torch

    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise TrainError(
                f"--device {requested}: torch sees no CUDA GPU here; leave --device out to use the CPU"
            )
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_base(base: Path) -> Path:
    """The base model folder, or a clear error: it must be a local Hugging Face folder (nothing downloads)."""
    base = Path(base)
    if not base.is_dir():
        raise TrainError(
            f"the base model folder {base} does not exist: pass --base with a local Hugging Face model "
            "folder (config.json, weights, tokenizer with a chat template); nothing is downloaded"
        )
    if not (base / "config.json").is_file():
        raise TrainError(
            f"{base} has no config.json: --base must be a Hugging Face model folder (as saved by "
            "save_pretrained), not a GGUF file or a parent folder"
        )
    return base


def _chat_template_of(tokenizer: Any, folder: Path) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise TrainError(
            f"the tokenizer in {folder} has no chat template: fine-tune an instruction (chat) model, whose "
            "template DORA's transformers backend needs to serve the result"
        )


def load_model(folder: Path, device: str, *, threads: int = 1, dtype: Any = None) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local folder, on ``device`` (offline). ``dtype`` ``None``:
    fp32 on CPU (half precision is slow there), the checkpoint's own on a GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = check_base(folder)
    if device == "cpu":
        torch.set_num_threads(max(1, threads))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(folder),
            local_files_only=True,
            dtype=dtype if dtype is not None else (torch.float32 if device == "cpu" else "auto"),
        )
    except (OSError, ValueError) as exc:
        raise TrainError(f"could not load the model folder {folder}: {exc}") from exc
    _chat_template_of(tokenizer, folder)
    if tokenizer.pad_token is None:  # batches need one; the end-of-text token is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer


def lora_config(opts: TrainOptions) -> Any:
    from peft import LoraConfig

    if opts.lora_r < 1:
        raise TrainError(f"--lora-r must be at least 1, not {opts.lora_r}")
    return LoraConfig(
        r=opts.lora_r,
        lora_alpha=opts.lora_alpha if opts.lora_alpha is not None else 2 * opts.lora_r,
        lora_dropout=opts.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def checkpoint_to_resume(opts: TrainOptions) -> str | None:
    """The last checkpoint in OUT when ``--resume``; refuses to mix a new run into an old one's folder."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(opts.out)) if opts.out.is_dir() else None
    if opts.resume:
        if last is None:
            raise TrainError(
                f"--resume: {opts.out} has no checkpoint-N folder to continue from; run without --resume"
            )
        state = json.loads((Path(last) / "trainer_state.json").read_text(encoding="utf-8"))
        if opts.max_steps is not None and state.get("global_step", 0) >= opts.max_steps:
            raise TrainError(
                f"--resume: {last} is already at step {state['global_step']}; "
                "raise --max-steps to train further"
            )
        return last
    if last is not None:
        raise TrainError(
            f"{opts.out} already holds checkpoints ({Path(last).name}): pass --resume to continue that run, "
            "or choose another --out"
        )
    return None


def training_args(config_cls: type, opts: TrainOptions, device: str, **specific: Any) -> Any:
    """The TRL config (``SFTConfig`` or ``DPOConfig``) with the arguments both trainers share."""
    import torch

    on_gpu = device.startswith("cuda")
    # transformers 5 renamed gradient checkpointing; the old name still works but warns
    names = {f.name for f in dataclasses.fields(config_cls)}
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    )
    short = opts.max_steps is not None and 0 < opts.max_steps <= 20
    args: dict[str, Any] = {
        "output_dir": str(opts.out),
        "num_train_epochs": opts.epochs,
        "max_steps": opts.max_steps if opts.max_steps is not None else -1,
        "learning_rate": opts.learning_rate,
        "per_device_train_batch_size": opts.batch_size,
        "per_device_eval_batch_size": opts.batch_size,
        "gradient_accumulation_steps": opts.grad_accum,
        "max_length": opts.max_length,
        "logging_steps": 1 if short else 10,
        "save_strategy": "steps",
        "save_steps": opts.save_steps,
        "save_total_limit": 3,
        "eval_strategy": "no",  # evaluated before and after by the runner, not during
        "report_to": "none",
        "use_cpu": not on_gpu,
        "bf16": on_gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
        checkpointing: on_gpu,
        "seed": opts.seed,
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
        **specific,
    }
    return config_cls(**args)
