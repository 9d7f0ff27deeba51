"""``dora train dpo``: preference tuning of a LoRA adapter on 👍/👎 pairs (TRL's ``DPOTrainer``).

The reference model DPO measures against is the base itself, with the adapter switched off (TRL
does this for a PEFT model), so no second copy of the weights is loaded. β (``--beta``, 0.1) is how
far the tuned model may drift from the base. Run it on an SFT-merged model (``--base OUT/merged``)
to stack the two. The metrics reported are the loss and the reward margin (how much more the model
prefers the chosen reply than the base did, minus the same for the rejected one): it starts at 0
and should grow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dora.train.lora import TrainOptions, lora_config, training_args
from dora.train.runner import TrainReport, run_training

__all__ = ["DPO_METRICS", "dpo_trainer", "run_dpo"]

DPO_METRICS = ("eval_loss", "eval_rewards/margins", "eval_rewards/accuracies")


def dpo_trainer(
    opts: TrainOptions,
    model: Any,
    tokenizer: Any,
    train_set: Any,
    eval_set: Any,
    device: str,
    *,
    ref_model: Any = None,
    peft: bool = True,
) -> Any:
    from trl import DPOConfig, DPOTrainer

    args = training_args(DPOConfig, opts, device, beta=opts.beta)
    return DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=lora_config(opts) if peft else None,
    )


def run_dpo(opts: TrainOptions, log: Callable[[str], None] = print) -> TrainReport:
    def build(model: Any, tokenizer: Any, train_set: Any, eval_set: Any, device: str) -> Any:
        return dpo_trainer(opts, model, tokenizer, train_set, eval_set, device)

    return run_training(opts, build, DPO_METRICS, log)
