"""``dora train sft``: supervised fine-tuning of a LoRA adapter on the persona's replies (TRL's
``SFTTrainer``).

Each example is the conversation so far as the prompt and the assistant's reply as the completion
(see :mod:`dora.train.data_io`), so the loss is on the reply alone: the model learns how the
companion answers, not how users write. The chat template is the base tokenizer's own, the one the
served model will be prompted with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dora.train.lora import TrainOptions, lora_config, training_args
from dora.train.runner import TrainReport, run_training

__all__ = ["SFT_METRICS", "run_sft", "sft_trainer"]

SFT_METRICS = ("eval_loss", "eval_mean_token_accuracy")


def sft_trainer(
    opts: TrainOptions,
    model: Any,
    tokenizer: Any,
    train_set: Any,
    eval_set: Any,
    device: str,
    *,
    peft: bool = True,
) -> Any:
    from trl import SFTConfig, SFTTrainer

    args = training_args(SFTConfig, opts, device, completion_only_loss=True, packing=False)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=lora_config(opts) if peft else None,
    )


def run_sft(opts: TrainOptions, log: Callable[[str], None] = print) -> TrainReport:
    def build(model: Any, tokenizer: Any, train_set: Any, eval_set: Any, device: str) -> Any:
        return sft_trainer(opts, model, tokenizer, train_set, eval_set, device)

    return run_training(opts, build, SFT_METRICS, log)
