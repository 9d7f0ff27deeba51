"""LoCoMo (Maharana et al., 2024) → DORA's probe-set format.

Each of the 10 conversations becomes one user; both speakers' turns are that user's episodes,
written as ``"Speaker: text"`` (questions name the speaker) with a shared photo's caption
appended, as the user would have seen it. Questions of categories 1–4 become probes (5 is
adversarial: no evidence). Evidence ids like ``D3:12`` are prefixed with the conversation id so
they are unique; malformed ones (``"D8:6; D9:17"``, a bare ``"D"``) are parsed or dropped.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CATEGORIES = (1, 2, 3, 4)
_DIA_ID = re.compile(r"D\d+:\d+")


def parse_locomo_date(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` → an aware datetime (UTC; LoCoMo gives no zone)."""
    cleaned = re.sub(r"\s+", " ", text.strip())
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"unrecognised LoCoMo date: {text!r}")


def evidence_ids(raw: list[Any]) -> list[str]:
    out: list[str] = []
    for item in raw:
        out.extend(_DIA_ID.findall(str(item)))
    return list(dict.fromkeys(out))


def _turn_text(turn: dict[str, Any]) -> str:
    text = f"{turn['speaker']}: {turn.get('text', '')}"
    if turn.get("blip_caption"):
        text += f" [shares a photo: {turn['blip_caption']}]"
    return text


def convert(conversations: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """The probe set, and the gold observations as facts per user (for the facts mode)."""
    users: dict[str, Any] = {}
    facts: dict[str, list[dict]] = {}
    for conv in conversations:
        uid = str(conv["sample_id"])
        c = conv["conversation"]
        sessions, dates = [], {}
        n = 1
        while f"session_{n}" in c:
            date = parse_locomo_date(c[f"session_{n}_date_time"])
            dates[n] = date
            turns = [[f"{uid}:{t['dia_id']}", _turn_text(t)] for t in c[f"session_{n}"]]
            sessions.append({"date": date.isoformat(), "turns": turns})
            n += 1
        probes = []
        for i, qa in enumerate(conv.get("qa", [])):
            if qa.get("category") not in CATEGORIES:
                continue
            probes.append(
                {
                    "id": f"{uid}:q{i}",
                    "ask": qa["question"],
                    "evidence": [f"{uid}:{e}" for e in evidence_ids(qa.get("evidence", []))],
                    "kind": f"category_{qa['category']}",
                }
            )
        users[uid] = {"sessions": sessions, "probes": probes}
        user_facts = []
        for key, per_speaker in (conv.get("observation") or {}).items():
            m = re.match(r"session_(\d+)_observation", key)
            if not m or int(m.group(1)) not in dates:
                continue
            for items in per_speaker.values():
                for item in items:
                    text, ev = item[0], item[1] if len(item) > 1 else []
                    ids = evidence_ids(ev if isinstance(ev, list) else [ev])
                    if str(text).strip() and ids:
                        user_facts.append(
                            {
                                "text": text,
                                "evidence": [f"{uid}:{e}" for e in ids],
                                "date": dates[int(m.group(1))].isoformat(),
                            }
                        )
        facts[uid] = user_facts
    return {"users": users}, facts


def load_locomo(path: Path) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    return convert(json.loads(Path(path).read_text(encoding="utf-8")))
