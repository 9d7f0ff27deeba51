"""The dataset folder ``dora train`` reads: its four JSONL files, checked line by line, as ``datasets``.

The format is fixed (``dora train data`` writes it; operators may bring their own files in it)::

    sft_train.jsonl, sft_eval.jsonl   {"messages": [{"role": "system"|"user"|"assistant", "content": str},
                                       ...]} ending with an assistant message
    dpo_train.jsonl, dpo_eval.jsonl   {"prompt": [messages ending with a user message],
                                       "chosen": [{"role": "assistant", "content": str}],
                                       "rejected": [{"role": "assistant", "content": str}]}

Every line is checked here, before any model is loaded, so a bad line is one clear error naming the
file, the line and what is wrong, not a stack trace from deep inside TRL after minutes of loading.
Rows are rebuilt with exactly the keys TRL reads (``role``, ``content``), so stray keys or a mix of
shapes cannot upset Arrow's schema.

An SFT example becomes a *conversational prompt-completion* row (``prompt``: every message but the
last, ``completion``: the last assistant reply): TRL then computes the loss on the reply alone, with
any chat template, which is what a companion should learn (its own lines, not the user's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from dora.train.errors import TrainError

__all__ = ["Kind", "Split", "data_file", "load_split", "read_dpo", "read_sft", "sft_prompts"]

Kind = Literal["sft", "dpo"]
Split = Literal["train", "eval"]
ROLES = ("system", "user", "assistant")
FORMAT = "the format is in the README, section Training (optional)"


class _BadLine(ValueError):
    """One line that does not follow the format; the reader adds the file and line number."""


def data_file(data_dir: Path, kind: Kind, split: Split) -> Path:
    return Path(data_dir) / f"{kind}_{split}.jsonl"


def _message(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _BadLine(f"{where} is not an object with role and content")
    role, content = value.get("role"), value.get("content")
    if role not in ROLES:
        raise _BadLine(f"{where} has role {role!r}; it must be one of {', '.join(ROLES)}")
    if not isinstance(content, str):
        raise _BadLine(f"{where} has no text content (content must be a string)")
    return {"role": role, "content": content}


def _messages(value: Any, key: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise _BadLine(f'"{key}" must be a non-empty list of messages')
    return [_message(m, f'"{key}"[{i}]') for i, m in enumerate(value)]


def _sft_row(obj: dict[str, Any]) -> dict[str, Any]:
    messages = _messages(obj.get("messages"), "messages")
    if messages[-1]["role"] != "assistant":
        raise _BadLine('"messages" must end with an assistant message (the reply to learn)')
    if not messages[-1]["content"].strip():
        raise _BadLine("the last assistant message is empty")
    if not any(m["role"] == "user" for m in messages[:-1]):
        raise _BadLine('"messages" needs a user message before the assistant reply')
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def _answer(obj: dict[str, Any], key: str) -> list[dict[str, str]]:
    answer = _messages(obj.get(key), key)
    if len(answer) != 1 or answer[0]["role"] != "assistant" or not answer[0]["content"].strip():
        raise _BadLine(f'"{key}" must be one non-empty assistant message: [{{"role": "assistant", ...}}]')
    return answer


def _dpo_row(obj: dict[str, Any]) -> dict[str, Any]:
    prompt = _messages(obj.get("prompt"), "prompt")
    if prompt[-1]["role"] != "user":
        raise _BadLine('"prompt" must end with a user message')
    chosen, rejected = _answer(obj, "chosen"), _answer(obj, "rejected")
    if chosen[0]["content"] == rejected[0]["content"]:
        raise _BadLine('"chosen" and "rejected" are the same text: the pair teaches nothing')
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _read(path: Path, row: Callable[[dict[str, Any]], dict[str, Any]], kind: Kind) -> list[dict[str, Any]]:
    if not path.is_file():
        raise TrainError(
            f"{path} does not exist: build the dataset with `dora train data --out {path.parent}`, "
            f"or put your own {path.name} there ({FORMAT})"
        )
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainError(
                    f"{path} line {number} is not valid JSON ({exc.msg}): each line must be one JSON "
                    "object; fix or delete that line"
                ) from None
            try:
                if not isinstance(obj, dict):
                    raise _BadLine("is not a JSON object")
                rows.append(row(obj))
            except _BadLine as exc:
                raise TrainError(
                    f"{path} line {number}: {exc}; fix or delete that line ({kind.upper()} {FORMAT})"
                ) from None
    if not rows:
        raise TrainError(
            f"{path} has no examples: it is empty; add examples or rebuild it with `dora train data`"
        )
    return rows


def read_sft(path: Path) -> list[dict[str, Any]]:
    """SFT rows as prompt-completion pairs, every line checked."""
    return _read(Path(path), _sft_row, "sft")


def read_dpo(path: Path) -> list[dict[str, Any]]:
    """DPO rows (``prompt``, ``chosen``, ``rejected``), every line checked."""
    return _read(Path(path), _dpo_row, "dpo")


def load_split(data_dir: Path, kind: Kind, split: Split, *, required: bool = True) -> Any:
    """``datasets.Dataset`` of one file; ``None`` for a missing file that is not required (an eval set)."""
    from datasets import Dataset

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TrainError(
            f"the dataset folder {data_dir} does not exist: pass --data with the folder "
            "`dora train data --out` wrote"
        )
    path = data_file(data_dir, kind, split)
    if not required and not path.exists():
        return None
    rows = read_sft(path) if kind == "sft" else read_dpo(path)
    return Dataset.from_list(rows)


def sft_prompts(data_dir: Path, n: int) -> list[dict[str, Any]]:
    """The first ``n`` held-out SFT examples as prompt + reference reply (for the side-by-side)."""
    path = data_file(Path(data_dir), "sft", "eval")
    return [{"prompt": r["prompt"], "reference": r["completion"][0]["content"]} for r in read_sft(path)[:n]]
