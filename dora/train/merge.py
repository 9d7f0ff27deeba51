"""``--merge``: the LoRA adapter folded into the base weights, saved as an ordinary model folder.

The result (``OUT/merged``) is what serving needs and nothing else: the weights
(``merge_and_unload``: no PEFT at run time), the config and generation config, and the base's
tokenizer with its chat template, which DORA's transformers backend requires
(``DORA_LLM=transformers DORA_LLM_MODEL=OUT/merged``) and vLLM reads (``vllm serve OUT/merged``).
The base is loaded again in its own dtype for this, so a bf16 checkpoint stays bf16 on disk.
A ``dora-train.json`` beside the weights names the base, so ``dora train eval`` can compare them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dora.train.errors import TrainError
from dora.train.lora import load_model

__all__ = ["RUN_INFO", "merge_adapter", "merged_model"]

RUN_INFO = "dora-train.json"


def merged_model(base: Path, adapter: Path, device: str, *, dtype: Any = None) -> tuple[Any, Any]:
    """The base with the adapter in ``adapter`` merged in, in memory, and the base's tokenizer."""
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise TrainError(
            f"{adapter} holds no LoRA adapter (adapter_config.json): pass the --out of `dora train`"
        )
    model, tokenizer = load_model(base, device, dtype=dtype)
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload(), tokenizer


def merge_adapter(
    base: Path, adapter: Path, out: Path, device: str = "cpu", info: dict | None = None
) -> Path:
    """Write base + adapter as one model folder at ``out`` (replaced if it exists); returns ``out``."""
    model, tokenizer = merged_model(base, adapter, device, dtype="auto")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    run = {"base": str(Path(base).resolve()), "adapter": str(Path(adapter).resolve()), **(info or {})}
    (out / RUN_INFO).write_text(json.dumps(run, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out
