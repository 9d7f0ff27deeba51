"""``dora train data``: a training set from the conversations users chose to share, and nothing else.

Where it comes from: the examples the bot kept (see :mod:`bot.db.feedback`) for users who share
their conversations for training under the current version of the policy, each no older than the
moment they last said yes; a user who revoked has no examples left (revoking deletes them) and is
not asked for any. Each example becomes:

- **SFT** (``sft_*.jsonl``, ``{"messages": [...]}``): the persona's system text (its card, as the
  prompt gives it: :func:`agent.prompts.static_prompt`), the recent turns, the reply, for every
  reply the user did not reject: rated 👍, or not rated at all (silence is weak approval, and most
  replies are never rated; the card gives both counts). A reply rated 👎, or one the user asked to
  have answered again, never is.
- **DPO** (``dpo_*.jsonl``, TRL's conversational preference format ``{"prompt", "chosen",
  "rejected"}``): a 👎 reply and the reply regenerated for the same message, when the user did not
  reject that one too.

Personal data is scrubbed by default (:mod:`dora.train.scrub`). Operator-brought open-licensed data
in the same two formats (``--mix``) is validated line by line and mixed in, not scrubbed (it is
published data; the card lists it). The split keeps one turn's examples (its SFT example and its
pair) on one side, shuffled by ``--seed``.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.prompts import static_prompt
from bot.db.feedback import DOWN, UP, KeptExample
from dora.train.scrub import PLACEHOLDER, Scrubber
from personas.library import PersonaLibrary

ROLES = ("system", "user", "assistant")
FILES = ("sft_train.jsonl", "sft_eval.jsonl", "dpo_train.jsonl", "dpo_eval.jsonl")


class MixError(ValueError):
    """A line of a ``--mix`` file that is not an example in either format; says the file and line."""


@dataclass
class Record:
    """One line of the output: ``data`` as written; ``group`` keeps one turn's records on one side of
    the split; the rest is for the card."""

    kind: str  # "sft" | "dpo"
    data: dict[str, Any]
    group: str
    source: str  # "conversations" or the --mix file's name
    persona_id: str = ""
    lang: str = ""
    user_id: int | None = None
    rating: str = ""  # SFT from conversations: "up" | "unrated"


@dataclass
class Built:
    records: list[Record] = field(default_factory=list)
    scrubbed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    mixed: dict[str, Counter[str]] = field(default_factory=dict)


def _turns(context: Iterable[dict[str, str]], scrub: Scrubber | None) -> list[dict[str, str]]:
    """The kept turns as chat messages: consecutive messages of one side joined (a check-in and then
    a greeting, or quick messages), so roles alternate as chat templates expect."""
    out: list[dict[str, str]] = []
    for turn in context:
        role = "user" if turn.get("role") == "user" else "assistant"
        content = str(turn.get("content", "")).strip()
        if not content:
            continue
        if scrub is not None:
            content = scrub.scrub(content)
        if out and out[-1]["role"] == role:
            out[-1]["content"] += "\n\n" + content
        else:
            out.append({"role": role, "content": content})
    return out


def from_conversations(
    examples: Iterable[KeptExample], personas: PersonaLibrary, scrub: Scrubber | None, built: Built
) -> None:
    """SFT records and preference pairs from the kept examples (see the module docstring)."""
    kept = list(examples)
    by_reply = {(ex.chat_id, ex.message_id): ex for ex in kept}
    replaced = {(ex.chat_id, ex.replaces) for ex in kept if ex.replaces is not None}
    systems: dict[tuple[str, str], str] = {}
    for ex in kept:
        if ex.persona_id not in personas:
            built.skipped["persona no longer installed"] += 1
            continue
        lang = "en" if ex.lang == "en" else "ru"
        if (ex.persona_id, lang) not in systems:
            card = personas.get(ex.persona_id)
            systems[(ex.persona_id, lang)] = static_prompt(card, lang, adult_unlocked=False)
        system = {"role": "system", "content": systems[(ex.persona_id, lang)]}
        context = _turns(ex.context, scrub)
        if not context or context[-1]["role"] != "user":
            built.skipped["no user message before the reply"] += 1
            continue
        reply = scrub.scrub(ex.reply) if scrub is not None else ex.reply
        group = f"{ex.user_id}:{ex.turn_id or ex.message_id}"
        common = {"persona_id": ex.persona_id, "lang": lang, "user_id": ex.user_id, "group": group}
        rejected = ex.rating == DOWN or (ex.chat_id, ex.message_id) in replaced
        if not rejected:
            built.records.append(
                Record(
                    "sft",
                    {"messages": [system, *context, {"role": "assistant", "content": reply}]},
                    source="conversations",
                    rating="up" if ex.rating == UP else "unrated",
                    **common,
                )
            )
        first = by_reply.get((ex.chat_id, ex.replaces)) if ex.replaces is not None else None
        if first is not None and ex.rating != DOWN and first.rating == DOWN:
            worse = scrub.scrub(first.reply) if scrub is not None else first.reply
            built.records.append(
                Record(
                    "dpo",
                    {
                        "prompt": [system, *context],
                        "chosen": [{"role": "assistant", "content": reply}],
                        "rejected": [{"role": "assistant", "content": worse}],
                    },
                    source="conversations",
                    **common,
                )
            )
    if scrub is not None:
        built.scrubbed.update(scrub.counts)
        scrub.counts.clear()


def _messages(value: Any, where: str, what: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise MixError(f"{where}: {what} must be a non-empty list of messages")
    for n, message in enumerate(value):
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise MixError(
                f'{where}: {what}[{n}] must be {{"role": one of {", ".join(ROLES)}, "content": text}}'
            )
    return value


def read_mix(path: Path) -> list[Record]:
    """The examples of an operator's JSONL file, each line checked: ``{"messages"}`` ending with an
    assistant message, or ``{"prompt", "chosen", "rejected"}`` (the prompt ending with a user
    message, chosen and rejected one assistant message each). Raises :class:`MixError` naming the
    file and the line."""
    out: list[Record] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MixError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise MixError(f"{path}: not UTF-8 text") from exc
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MixError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise MixError(f"{where}: expected a JSON object")
        group = f"mix:{path.name}:{number}"
        if "messages" in data:
            messages = _messages(data["messages"], where, "messages")
            if messages[-1]["role"] != "assistant":
                raise MixError(f"{where}: messages must end with an assistant message")
            out.append(Record("sft", {"messages": messages}, group, path.name))
        elif {"prompt", "chosen", "rejected"} <= data.keys():
            prompt = _messages(data["prompt"], where, "prompt")
            if prompt[-1]["role"] != "user":
                raise MixError(f"{where}: prompt must end with a user message")
            for key in ("chosen", "rejected"):
                answer = _messages(data[key], where, key)
                if [m["role"] for m in answer] != ["assistant"]:
                    raise MixError(f"{where}: {key} must be one assistant message")
            record = {k: data[k] for k in ("prompt", "chosen", "rejected")}
            out.append(Record("dpo", record, group, path.name))
        else:
            raise MixError(
                f'{where}: neither format: expected "messages" (SFT) or "prompt", "chosen" and '
                '"rejected" (preference pairs)'
            )
    return out


def split(records: list[Record], eval_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Train and eval: whole groups (one turn's records) to one side, ``eval_fraction`` of the groups
    (at least one when there are two or more and the fraction is above 0), shuffled by ``seed``."""
    groups = sorted({r.group for r in records})
    random.Random(seed).shuffle(groups)
    n_eval = math.floor(len(groups) * eval_fraction + 0.5)
    if eval_fraction > 0 and len(groups) >= 2:
        n_eval = min(max(n_eval, 1), len(groups) - 1)
    held = set(groups[:n_eval])
    order = {g: i for i, g in enumerate(groups)}
    train = sorted((r for r in records if r.group not in held), key=lambda r: order[r.group])
    test = sorted((r for r in records if r.group in held), key=lambda r: order[r.group])
    return train, test


def write(out: Path, built: Built, eval_fraction: float, seed: int, scrubbed: bool) -> dict[str, Any]:
    """The four JSONL files and the card (README.md) in ``out``; the card's figures as a dict."""
    out.mkdir(parents=True, exist_ok=True)
    train, test = split(built.records, eval_fraction, seed)
    counts: dict[str, int] = {}
    for name, side in (("train", train), ("eval", test)):
        for kind in ("sft", "dpo"):
            rows = [r for r in side if r.kind == kind]
            counts[f"{kind}_{name}"] = len(rows)
            with (out / f"{kind}_{name}.jsonl").open("w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r.data, ensure_ascii=False) + "\n")
    own = [r for r in built.records if r.source == "conversations"]
    figures: dict[str, Any] = {
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": counts,
        "sft_examples": sum(r.kind == "sft" for r in own),
        "sft_rated_up": sum(r.kind == "sft" and r.rating == "up" for r in own),
        "sft_unrated": sum(r.kind == "sft" and r.rating == "unrated" for r in own),
        "preference_pairs": sum(r.kind == "dpo" for r in own),
        "users": len({r.user_id for r in own}),
        "personas": dict(sorted(Counter(r.persona_id for r in own).items())),
        "languages": dict(sorted(Counter(r.lang for r in own).items())),
        "scrubbed": dict(sorted(built.scrubbed.items())) if scrubbed else None,
        "skipped": dict(built.skipped),
        "mixed": {name: dict(c) for name, c in built.mixed.items()},
        "eval_fraction": eval_fraction,
        "seed": seed,
    }
    (out / "README.md").write_text(card(figures), encoding="utf-8")
    return figures


def card(f: dict[str, Any]) -> str:
    """The dataset card: what is in the set, where it came from, what was done to it."""
    files = f["files"]
    lines = [
        "# DORA training data",
        "",
        f"Built {f['built_at']} by `dora train data` from the conversations of users who chose to share",
        "them for training (`/share_for_training`), only from the moment they agreed; users who revoked",
        'are not in it. Formats: `sft_*.jsonl` one `{"messages": [...]}` per line (system, turns, the',
        'reply last); `dpo_*.jsonl` TRL\'s conversational preference format (`{"prompt", "chosen",',
        "\"rejected\"}`). The system message is the persona's card as DORA's prompt gives it.",
        "",
        "## Counts",
        "",
        "| | |",
        "| --- | --- |",
        f"| SFT examples from conversations | {f['sft_examples']} (rated 👍: {f['sft_rated_up']}, "
        f"not rated: {f['sft_unrated']}) |",
        f"| Preference pairs (👎 reply vs the one regenerated for it) | {f['preference_pairs']} |",
        f"| Users | {f['users']} |",
        f"| Examples and pairs by persona | {_pairs(f['personas'])} |",
        f"| Examples and pairs by language | {_pairs(f['languages'])} |",
        f"| Split (seed {f['seed']}, eval fraction {f['eval_fraction']}) | SFT {files['sft_train']} train / "
        f"{files['sft_eval']} eval; DPO {files['dpo_train']} train / {files['dpo_eval']} eval |",
    ]
    if f["skipped"]:
        lines.append(f"| Left out | {_pairs(f['skipped'])} |")
    lines += [
        "",
        "SFT takes every reply the user did not reject: rated 👍, or not rated (most replies never are;",
        "silence is read as weak approval). A reply rated 👎, or answered again at the user's request, is",
        "never an SFT example; it is the rejected side of a pair when the regenerated reply was not",
        "rejected too. One turn's SFT example and pair are always on the same side of the split.",
        "",
        "## Personal data",
        "",
    ]
    if f["scrubbed"] is None:
        lines.append("**Not scrubbed** (`--no-scrub`): the text is as users wrote it.")
    else:
        found = ", ".join(f"{PLACEHOLDER.get(k, k)} {v}" for k, v in f["scrubbed"].items()) or "none found"
        lines += [
            f"Scrubbed, replaced by placeholders: {found}. E-mails, phone numbers, street addresses and",
            'names given as «меня зовут …» / "my name is …" by patterns (Russian and English); names of',
            "people and places in Russian text by natasha's NER. Not caught: English names outside those",
            "phrases, lower-case nicknames, and details that identify without being a name or a number.",
        ]
    lines += ["", "## Mixed-in data", ""]
    if f["mixed"]:
        lines.append("Operator-brought files (`--mix`), taken as they are (not scrubbed):")
        lines.append("")
        for name, c in f["mixed"].items():
            lines.append(f"- `{name}`: {c.get('sft', 0)} SFT examples, {c.get('dpo', 0)} preference pairs")
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"


def build(
    shared: dict[int, list[KeptExample]],
    personas: PersonaLibrary,
    *,
    mix: Iterable[Path] = (),
    scrub: bool = True,
) -> Built:
    """Records from each sharing user's examples and the ``mix`` files (read first: a bad line fails
    before any work)."""
    built = Built()
    mixed = [(path, read_mix(path)) for path in mix]
    scrubber = Scrubber(keep=[c.name for c in personas.list()]) if scrub else None
    for _user, examples in sorted(shared.items()):
        from_conversations(examples, personas, scrubber, built)
    for path, records in mixed:
        built.mixed[path.name] = Counter(r.kind for r in records)
        built.records.extend(records)
    return built
