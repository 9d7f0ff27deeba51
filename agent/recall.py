"""Memories as the persona knows them: dated, phrased as knowledge, never a list for the user.

The model gets a short block like «12 ноября (3 дня назад) он рассказал: …» under an instruction to
use it naturally, so a reply can say «как там Бублик?» instead of reciting a database row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.language import Language
from memory.models import MemoryKind, ScoredMemory

_MONTHS_RU = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip


def when(moment: datetime, now: datetime, lang: Language) -> str:
    """'сегодня' / 'вчера' / '12 ноября (3 дня назад)' / '12 ноября 2025'; English alike."""
    days = (now.date() - moment.date()).days
    if lang == "en":
        date = f"{moment.strftime('%B')} {moment.day}" + (
            f", {moment.year}" if moment.year != now.year else ""
        )
        if days <= 0:
            return "today"
        if days == 1:
            return "yesterday"
        return f"{date} ({days} days ago)" if days < 60 else date
    date = f"{moment.day} {_MONTHS_RU[moment.month - 1]}" + (
        f" {moment.year}" if moment.year != now.year else ""
    )
    if days <= 0:
        return "сегодня"
    if days == 1:
        return "вчера"
    if days < 60:
        return f"{date} ({_days_ago_ru(days)})"
    return date


def _days_ago_ru(days: int) -> str:
    if days % 10 == 1 and days % 100 != 11:
        word = "день"
    elif days % 10 in (2, 3, 4) and days % 100 not in (12, 13, 14):
        word = "дня"
    else:
        word = "дней"
    return f"{days} {word} назад"


@dataclass(frozen=True)
class Recalled:
    """One memory placed in the prompt, with the reason it ranked (for ``dora chat --show-memory``)."""

    id: str
    kind: str
    line: str
    why: str


def _why(item: ScoredMemory) -> str:
    p = item.parts
    return (
        f"score {p.total:.2f}: relevance {p.relevance:.2f} (dense {p.dense:.2f}, lexical {p.lexical:.2f}), "
        f"recency {p.recency:.2f}, importance {p.importance:.2f}"
    )


def recalled_lines(items: list[ScoredMemory], now: datetime, lang: Language) -> list[Recalled]:
    """Each memory as one dated line, facts as statements, the user's own words in quotes."""
    out = []
    for item in items:
        m = item.memory
        stamp = when(m.valid_at if m.kind == MemoryKind.FACT else m.created_at, now, lang)
        if m.kind == MemoryKind.FACT:
            line = f"- {m.text} ({stamp})"
        else:
            said = "they told you" if lang == "en" else "собеседник написал тебе"
            line = f"- {stamp} {said}: «{m.text}»"
        out.append(Recalled(id=m.id, kind=m.kind.value, line=line, why=_why(item)))
    return out


MEMORY_HEADER: dict[Language, str] = {
    "ru": (
        "Что ты помнишь о собеседнике из прошлых разговоров. Используй это естественно и только к месту, "
        "как друг, который помнит (например, спроси, как дела у того, о ком он рассказывал); "
        "не перечисляй это списком и не говори, что у тебя есть «память»:"
    ),
    "en": (
        "What you remember about the user from earlier talks. Use it naturally and only when it fits, "
        "like a friend who remembers (e.g. ask how someone they mentioned is doing); never list it "
        "or mention having a 'memory':"
    ),
}


def memory_block(lines: list[Recalled], lang: Language) -> str:
    if not lines:
        return ""
    return MEMORY_HEADER.get(lang, MEMORY_HEADER["ru"]) + "\n" + "\n".join(r.line for r in lines)
