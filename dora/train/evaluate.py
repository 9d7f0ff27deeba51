"""``dora train eval``: is the tuned model better than its base? The held-out loss of both, and
their replies to the same held-out prompts side by side, in a Markdown file an operator reads.

The tuned model is either the adapter folder ``dora train`` wrote (``OUT``, merged in memory here)
or a merged one (``OUT/merged``); its base comes from ``--base``, else from the adapter's config or
the ``dora-train.json`` the run left beside it. Losses are computed by the same TRL trainers as in
training (a fresh trainer, no step taken), so the numbers compare with the ones training printed.
Replies are greedy and short, so a second run gives the same file: the point is to see the change
in voice, not to sample. The DPO part (loss, reward margin against the base) is there when
``dpo_eval.jsonl`` is.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dora.train.data_io import data_file, load_split, sft_prompts
from dora.train.dpo import DPO_METRICS, dpo_trainer
from dora.train.errors import TrainError
from dora.train.lora import TrainOptions, check_base, load_model, pick_device
from dora.train.merge import RUN_INFO, merged_model
from dora.train.sft import SFT_METRICS, sft_trainer

__all__ = ["EvalReport", "find_base", "run_eval"]

REPORT_NAME = "dora-eval.md"


@dataclass
class EvalReport:
    model: str
    base: str
    out: str
    sft: dict[str, dict[str, float]] = field(default_factory=dict)
    """``{"base": {...}, "tuned": {...}}``: loss and token accuracy on sft_eval.jsonl."""
    dpo: dict[str, float] | None = None
    """The tuned model's DPO loss, reward margin and accuracy against the base, on dpo_eval.jsonl."""
    samples: list[dict[str, str]] = field(default_factory=list)


def find_base(model_dir: Path, base: Path | None) -> Path:
    """The base to compare with: ``--base``, or the one the adapter or the run recorded."""
    if base is not None:
        return check_base(base)
    recorded: str | None = None
    adapter = model_dir / "adapter_config.json"
    if adapter.is_file():
        recorded = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
    run = model_dir / RUN_INFO
    if not recorded and run.is_file():
        recorded = json.loads(run.read_text(encoding="utf-8")).get("base")
    if not recorded or not Path(recorded).is_dir():
        raise TrainError(
            f"cannot tell which base model {model_dir} was tuned from"
            + (f" (it names {recorded}, which is not a folder here)" if recorded else "")
            + ": pass --base with the base model folder"
        )
    return check_base(Path(recorded))


def _tuned(model_dir: Path, base: Path, device: str, threads: int) -> tuple[Any, Any]:
    if not model_dir.is_dir():
        raise TrainError(
            f"the model folder {model_dir} does not exist: pass --model with `dora train`'s --out"
        )
    if (model_dir / "adapter_config.json").is_file():
        return merged_model(base, model_dir, device)
    return load_model(model_dir, device, threads=threads)


def _reply(model: Any, tokenizer: Any, prompt: list[dict[str, str]], max_new_tokens: int) -> str:
    import torch

    encoded = tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    inputs = {k: v.to(model.device) for k, v in encoded.items()}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad, top_p=None, top_k=None
        )
    new = out[0, inputs["input_ids"].shape[-1] :]
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def _loss(trainer: Any, keys: tuple[str, ...]) -> dict[str, float]:
    found = trainer.evaluate()
    return {k.removeprefix("eval_"): float(found[k]) for k in keys if k in found}


def run_eval(
    model_dir: Path,
    data: Path,
    *,
    base: Path | None = None,
    out: Path | None = None,
    n: int = 20,
    max_new_tokens: int = 48,
    device: str | None = None,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> EvalReport:
    model_dir, data = Path(model_dir), Path(data)
    base_dir = find_base(model_dir, base)
    prompts = sft_prompts(data, n)  # checks the held-out file before any model is loaded
    sft_set = load_split(data, "sft", "eval")
    dpo_set = load_split(data, "dpo", "eval", required=False)
    device = pick_device(device)
    out = out or model_dir / REPORT_NAME
    report = EvalReport(model=str(model_dir), base=str(base_dir), out=str(out))
    log(f"loading the base {base_dir} and the tuned model {model_dir} on {device}")
    base_model, tokenizer = load_model(base_dir, device, threads=threads)
    tuned_model, tuned_tokenizer = _tuned(model_dir, base_dir, device, threads)
    for i, p in enumerate(prompts, 1):  # replies first: the trainers below wrap the models they get
        log(f"replies {i}/{len(prompts)}")
        user = next(m["content"] for m in reversed(p["prompt"]) if m["role"] == "user")
        report.samples.append(
            {
                "user": user,
                "turns": str(len(p["prompt"])),
                "reference": p["reference"],
                "base": _reply(base_model, tokenizer, p["prompt"], max_new_tokens),
                "tuned": _reply(tuned_model, tuned_tokenizer, p["prompt"], max_new_tokens),
            }
        )
    with tempfile.TemporaryDirectory(prefix="dora-train-eval-") as tmp:
        opts = TrainOptions(kind="sft", base=base_dir, data=data, out=Path(tmp), batch_size=2)
        for name, model, tok in (("base", base_model, tokenizer), ("tuned", tuned_model, tuned_tokenizer)):
            trainer = sft_trainer(opts, model, tok, sft_set, sft_set, device, peft=False)
            report.sft[name] = _loss(trainer, SFT_METRICS)
        if dpo_set is not None:
            dpo_opts = TrainOptions(kind="dpo", base=base_dir, data=data, out=Path(tmp), batch_size=2)
            trainer = dpo_trainer(
                dpo_opts,
                tuned_model,
                tuned_tokenizer,
                dpo_set,
                dpo_set,
                device,
                ref_model=base_model,
                peft=False,
            )
            report.dpo = _loss(trainer, DPO_METRICS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        render(report, data, len(sft_set), None if dpo_set is None else len(dpo_set)), encoding="utf-8"
    )
    return report


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in (text or "(empty)").splitlines()) or "> (empty)"


def render(report: EvalReport, data: Path, n_sft: int, n_dpo: int | None) -> str:
    """The Markdown an operator reads: losses first, then each held-out prompt's three replies."""
    lines = [
        "# dora train eval",
        "",
        f"- tuned: `{report.model}`",
        f"- base: `{report.base}`",
        f"- held-out data: `{data}`",
        "",
        "## Eval loss (lower is better)",
        "",
        "| set | base | tuned |",
        "| --- | --- | --- |",
    ]
    base_sft, tuned_sft = report.sft.get("base", {}), report.sft.get("tuned", {})
    for key, label in (("loss", "loss"), ("mean_token_accuracy", "token accuracy")):
        if key in base_sft or key in tuned_sft:
            b, t = base_sft.get(key), tuned_sft.get(key)
            lines.append(
                f"| SFT {label} (`{data_file(data, 'sft', 'eval').name}`, {n_sft} examples) | "
                f"{'' if b is None else f'{b:.4f}'} | {'' if t is None else f'{t:.4f}'} |"
            )
    if report.dpo is not None:
        # against itself the base scores ln 2 and zero margin by definition: the reference point
        at_base = {"loss": math.log(2), "rewards/margins": 0.0, "rewards/accuracies": 0.0}
        pairs = f"{n_dpo} pair{'s' if n_dpo != 1 else ''}"
        for key, value in report.dpo.items():
            lines.append(
                f"| DPO {key} (`dpo_eval.jsonl`, {pairs}) | {at_base.get(key, 0.0):.4f} | {value:.4f} |"
            )
    lines += ["", f"## Replies side by side ({len(report.samples)} held-out prompts, greedy)", ""]
    for i, s in enumerate(report.samples, 1):
        lines += [
            f"### {i}. ({s['turns']} messages before the reply)",
            "",
            "**User:**",
            "",
            _quote(s["user"]),
            "",
            "**Reference (the dataset's reply):**",
            "",
            _quote(s["reference"]),
            "",
            "**Base:**",
            "",
            _quote(s["base"]),
            "",
            "**Tuned:**",
            "",
            _quote(s["tuned"]),
            "",
        ]
    return "\n".join(lines)
