"""Memories as the persona knows them: dated, phrased as knowledge, never a list for the user.

The model gets a short block like «12 ноября (3 дня назад) он рассказал: …» under an instruction to
use it naturally, so a reply can say «как там Бублик?» instead of reciting a database row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from agent.language import Language
from memory.lexical import analyzers
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
    said: str = ""  # an episode: the user's own words, and when (for the prompt's earlier turns)
    when: str = ""
    at: str = ""  # ISO time it was said (earlier turns go in the order they were said)
    sources: tuple[str, ...] = ()  # the messages it was said in (a fact and its message share one)


def _why(item: ScoredMemory) -> str:
    p = item.parts
    return (
        f"score {p.total:.2f}: relevance {p.relevance:.2f} (dense {p.dense:.2f}, lexical {p.lexical:.2f}), "
        f"recency {p.recency:.2f}, importance {p.importance:.2f}"
    )


def choose(found: list[ScoredMemory], k: int) -> list[ScoredMemory]:
    """At most ``k`` memories, no text twice (a question asked again is stored again), and no
    message that a newer one among them restates (the write-time link, ``Memory.supersedes``), nor a
    fact learned from such messages alone: the older word on a subject, next to the newer, was read
    back as current (a contradiction).

    Both a fact and the message it was learned from stay: the embedded model's facts are often
    clumsy («Пользователь такса Шпрота обожает лужи»), the user's own words are not, and the two
    go to different places in the prompt (see :func:`earlier_turns`). Preferring the fact was tried
    and measured worse (README, issue 18). No score threshold either: the relevance part is
    normalised over each search's candidates, so in a small store the right memory can score
    below zero (that fact: -0.09 for «какой породы у меня собака?»), and a cut would drop it."""
    restated = {old for item in found for old in item.memory.supersedes}
    # what was learned from those messages alone may be what the newer one changed (on the embedded
    # model no reconciliation retires it: «работает бариста» stayed beside «уволилась из кофейни»)
    old_sources = {
        sid for item in found if item.memory.id in restated for sid in item.memory.source_message_ids
    }
    seen: set[str] = set()
    out = []
    for item in found:
        m = item.memory
        if m.id in restated:  # a newer message found with it says it again, as it is now
            continue
        if m.kind == MemoryKind.FACT and m.source_message_ids and set(m.source_message_ids) <= old_sources:
            continue
        key = " ".join(m.text.lower().replace("ё", "е").split())
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out[:k]


_RU_USER_WORD = re.compile(r"\b[Пп]ользовател(ь|я|ю|ем|е|ьница|ьницы|ьнице|ьницу|ьницей)\b")


def _as_prompt_says(text: str) -> str:
    """The extractor's «пользователь» as the prompt names the user everywhere else, «собеседник»
    (a small model reads two names as two people)."""

    def swap(match: re.Match[str]) -> str:
        ending = match.group(1)
        word = (
            "собеседниц" + ending.removeprefix("ьниц")
            if ending.startswith("ьниц")
            else ("собеседник" + {"ь": "", "я": "а", "ю": "у", "ем": "ом", "е": "е"}[ending])
        )
        return word[0].upper() + word[1:] if match.group(0)[0].isupper() else word

    return _RU_USER_WORD.sub(swap, text)


def recalled_lines(items: list[ScoredMemory], now: datetime, lang: Language) -> list[Recalled]:
    """Each memory as one dated line, facts as statements, the user's own words in quotes."""
    out = []
    for item in items:
        m = item.memory
        stamp = when(m.valid_at if m.kind == MemoryKind.FACT else m.created_at, now, lang)
        if m.kind == MemoryKind.FACT:
            line = f"- {_as_prompt_says(m.text)} ({stamp})"
        else:
            said = "they told you" if lang == "en" else "собеседник написал тебе"
            line = f"- {stamp} {said}: «{m.text}»"
        said = m.text if m.kind == MemoryKind.EPISODE else ""
        moment = m.valid_at if m.kind == MemoryKind.FACT else m.created_at
        out.append(
            Recalled(
                id=m.id,
                kind=m.kind.value,
                line=line,
                why=_why(item),
                said=said,
                when=stamp,
                at=moment.isoformat(),
                # an episode stored without a message id stands for its own message (as extraction has it)
                sources=tuple(m.source_message_ids or ([m.id] if m.kind == MemoryKind.EPISODE else [])),
            )
        )
    return out


MEMORY_HEADER: dict[Language, str] = {
    "ru": "Что ты знаешь о собеседнике (говори об этом к месту и своими словами, не списком):",
    "en": "What you know about the user (bring it up where it fits, in your own words, never as a list):",
}

# the user asks about their own life: the answer is in what DORA remembers, said plainly
ASKED_CUE: dict[Language, str] = {
    "ru": (
        "Он спрашивает о том, что рассказывал тебе раньше: ответь прямо, обращаясь к нему («у тебя…», «ты…»)."
    ),
    "en": 'They ask about something they told you before: answer directly, talking to them ("your…").',
}

# a request whose answer needs what was told («напиши записку учительнице, с именем сына»,
# "suggest something to do near me"): a 1.5B model wrote a generic card with no name in it
TASK_CUE: dict[Language, str] = {
    "ru": (
        "Для этой просьбы нужно то, что он рассказывал тебе раньше (имена, места, занятия): "
        "вставь это в ответ прямо, по имени."
    ),
    "en": (
        "This request needs what they told you before (names, places, what they do): "
        "put it in your answer, by name."
    ),
}

# what the reader picked out for this message (agent.memory_reader), said last: the thing to say
ANSWER_CUE: dict[Language, str] = {
    "ru": "Из того, что он рассказывал, для ответа нужно: {found}. Скажи это в ответе прямо, по имени.",
    "en": "From what they told you, the answer needs: {found}. Say it in your answer, by name.",
}

# a hello: one thing remembered, asked about, is warm; reading the list back is not
GREETING_CUE: dict[Language, str] = {
    "ru": "Это приветствие: не пересказывай, что помнишь; можно спросить про что-то одно.",
    "en": "This is a greeting: don't recite what you remember; you may ask about one thing.",
}

_QUESTION_WORDS = re.compile(
    r"\b(?:как|какой|какая|какое|какие|каком|какую|какого|кто|кого|кому|что|чем|чего|где|куда|откуда|когда|"
    r"сколько|почему|помнишь|напомни|знаешь|забыла?|"
    r"what|which|who|whom|where|when|how|remember|remind|know)\b",
    re.IGNORECASE,
)
_ABOUT_ME = re.compile(
    r"\b(?:я|меня|мне|мной|мой|моя|моё|мое|мои|моего|моей|моему|моих|моим|моими|мою|нас|наш|наша|наше|наши|"
    r"нашего|нашей|мы|i|me|my|mine|we|our)\b",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^\W*(?:привет\w*|здравствуй\w*|добр\w+ (?:утро|день|вечер|ночи)|хай|салют|доброе|hi|hello|hey|"
    r"good (?:morning|afternoon|evening)|yo)\b",
    re.IGNORECASE,
)


_REQUEST = re.compile(
    r"\b(?:помоги|помогите|напиши|напишешь|придумай|подскажи|посоветуй|предложи|составь|набросай|сочини|"
    r"подбери|идеи|идей|варианты|write|help|suggest|recommend|plan|draft|ideas?|tips?|advice)\b",
    re.IGNORECASE,
)


_CYRILLIC_WORD = re.compile(r"[а-яё]+", re.IGNORECASE)
_MORPH = analyzers()[0]


def _speaks_of_self(text: str) -> bool:
    """A first-person word («мой», «мне», "my"), or a Russian verb in the first person singular:
    Russian drops the pronoun («хочу заказать коту миску», «иду в кофейню»)."""
    if _ABOUT_ME.search(text):
        return True
    return any(
        {"VERB", "1per", "sing"} in _MORPH.parse(word)[0].tag for word in _CYRILLIC_WORD.findall(text.lower())
    )


def asks_for_help_with_own_life(text: str) -> bool:
    """«помоги придумать подпись на открытку моему парню», "suggest something near me": a request
    about the user's own people, places or things, whose answer needs what they told."""
    return bool(_REQUEST.search(text)) and _speaks_of_self(text)


def asks_about_user(text: str) -> bool:
    """«как зовут моего кота?», "what's my dog's name again?": a question about the user's own life."""
    return ("?" in text or bool(_QUESTION_WORDS.search(text))) and _speaks_of_self(text)


def needs_memory(text: str) -> bool:
    """A question about the user's own life, or a request whose answer needs what they told."""
    return asks_about_user(text) or asks_for_help_with_own_life(text)


def is_greeting(text: str) -> bool:
    """A hello and little else («привет!», «доброе утро, как ты?»)."""
    return bool(_GREETING.search(text)) and len(text.split()) <= 6


EARLIER_PREFIX: dict[Language, str] = {"ru": "(раньше, {when})", "en": "(earlier, {when})"}


def earlier_turns(lines: list[Recalled], lang: Language) -> list[str]:
    """The remembered messages as the user's earlier turns, in the order they were said (so the
    newest word on a subject is the last one, as in a conversation), each marked as earlier with its
    date. A 1.5B model reads what the user said in the conversation as theirs («моя такса» is the
    user's dog), where a quoted line in a system note was taken as its own («у меня собака…»):
    measured, this is what made it answer (README)."""
    prefix = EARLIER_PREFIX.get(lang, EARLIER_PREFIX["ru"])
    said = sorted((r for r in lines if r.said), key=lambda r: r.at)
    return [f"{prefix.format(when=r.when)} {r.said}" for r in said]


def memory_block(
    lines: list[Recalled], lang: Language, message: str = "", *, remembered: bool = False, found: str = ""
) -> str:
    """The recalled facts under the header that says how to use them, and, for this ``message``, a
    last line: answer from what is remembered (a question about the user's life), use it (a request
    about their own people, places or things) or don't recite it (a hello). ``remembered``: the
    user's earlier messages are in the prompt too (the line applies to them even with no fact).
    ``found``: what the reader picked out of them for this message (:mod:`agent.memory_reader`),
    said last, as what to say."""
    if not lines and not remembered:
        return ""
    parts = (
        [MEMORY_HEADER.get(lang, MEMORY_HEADER["ru"]) + "\n" + "\n".join(r.line for r in lines)]
        if lines
        else []
    )
    if asks_about_user(message):
        parts.append(ASKED_CUE.get(lang, ASKED_CUE["ru"]))
    elif asks_for_help_with_own_life(message):
        parts.append(TASK_CUE.get(lang, TASK_CUE["ru"]))
    elif is_greeting(message):
        parts.append(GREETING_CUE.get(lang, GREETING_CUE["ru"]))
    if found:
        parts.append(ANSWER_CUE.get(lang, ANSWER_CUE["ru"]).format(found=found))
    return "\n\n".join(parts)
