"""The words of a check-in: the persona writing first, about one memory, in its own voice.

The chat model writes it from the persona's usual prompt (card, rules, the recent turns, the rolling
summary) plus the one memory the check-in is about and a short brief: write first, one or two
sentences, ask — don't report. Where the model fails, answers nothing, or writes something that is
not about the memory (:func:`grounded`), a plain line in the persona's grammatical gender stands in,
so a due check-in never turns into silence, an error, or a vague "how was Monday?".
"""

from __future__ import annotations

import re
from datetime import datetime

from langchain_core.messages import AnyMessage, HumanMessage

from agent.language import Language
from agent.prompts import build_prompt
from agent.recall import when
from memory.lexical import lemmas
from personas.card import PersonaCard

BRIEF: dict[str, dict[Language, str]] = {
    "event": {
        "ru": (
            "[Служебная заметка, не от собеседника. Ты пишешь первой/первым. "
            "{when} собеседник рассказывал тебе: «{about}». Это событие уже прошло. Напиши ему одно-два "
            "коротких тёплых предложения в своём стиле: вспомни об этом и спроси, как всё прошло. "
            "Не говори, что тебе напомнили, не упоминай заметку.]"
        ),
        "en": (
            "[A note for you, not from the user. You are writing first. {when} the user told you: "
            "«{about}». That has happened by now. Write one or two short, warm sentences in your own "
            "style: bring it up and ask how it went. Never mention being reminded or this note.]"
        ),
    },
    "silence": {
        "ru": (
            "[Служебная заметка, не от собеседника. Собеседник не писал несколько дней. Ты пишешь "
            "первой/первым. Ты помнишь о нём: «{about}» ({when}). Напиши одно-два коротких тёплых "
            "предложения в своём стиле: что ты о нём вспомнила/вспомнил, и спроси, как он. Без упрёков "
            "за молчание, без рекламы. Не упоминай заметку.]"
        ),
        "en": (
            "[A note for you, not from the user. The user hasn't written for a few days. You are "
            "writing first. You remember: «{about}» ({when}). Write one or two short, warm sentences "
            "in your own style: that this came to mind, and ask how they are. No guilt about the "
            "silence, no promotion. Never mention this note.]"
        ),
    },
}

FALLBACK: dict[str, dict[Language, dict[str, str]]] = {
    "event": {
        "ru": {
            "female": "Привет! Вспомнила, ты рассказывал(а): «{about}». Как всё прошло?",
            "male": "Привет! Вспомнил, ты рассказывал(а): «{about}». Как всё прошло?",
        },
        "en": {"": "Hi! I remembered you told me: “{about}”. How did it go?"},
    },
    "silence": {
        "ru": {
            "female": "Привет! Давно не слышала тебя. Вспомнила: «{about}». Как ты?",
            "male": "Привет! Давно не слышал тебя. Вспомнил: «{about}». Как ты?",
        },
        "en": {"": "Hi! Haven't heard from you in a while, and I remembered: “{about}”. How are you?"},
    },
}

# the safety check-back: fixed, never sampled (like the crisis answers in agent/safety/replies.py);
# present tense, so it needs no grammatical gender
SAFETY: dict[Language, str] = {
    "ru": (
        "Привет. Я всё думаю о нашем последнем разговоре. Как ты сейчас? Я рядом, можешь написать мне "
        "что угодно. А если снова станет совсем тяжело, пожалуйста, позвони — там выслушают:\n{lines}"
    ),
    "en": (
        "Hi. I keep thinking about our last talk. How are you now? I'm here, you can write me anything. "
        "And if it gets very hard again, please call — they will listen:\n{lines}"
    ),
}

QUOTE_MAX = 140
_LIST = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s")
# weekdays and "tomorrow" name when, not what: a check-in that only repeats them is not grounded
BRIEF_WORDS = (
    "понедельник вторник среда четверг пятница суббота воскресенье завтра послезавтра сегодня неделя "
    "monday tuesday wednesday thursday friday saturday sunday tomorrow today week",
)


def short(text: str, limit: int = QUOTE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def checkin_prompt(
    card: PersonaCard,
    lang: Language,
    reason: str,
    about: str,
    about_at: datetime,
    now: datetime,
    summary: str,
    recent: list[AnyMessage],
) -> list[AnyMessage]:
    """The persona's prompt, ending with the brief in place of a user message."""
    brief = BRIEF[reason][lang].format(about=short(about), when=when(about_at, now, lang))
    return build_prompt(
        card,
        lang,
        adult_unlocked=False,  # a message nobody asked for is never 18+
        now=now,
        summary=summary,
        memories="",
        recent=[*recent, HumanMessage(content=brief)],
    )


def grounded(text: str, about: str) -> bool:
    """Whether the model's check-in is about the memory: it names one of its content words and reads
    as a message, not a list. A small model asked to write first often asks "how was Monday?" or
    lists options; the plain line is better than a check-in that could be about anything."""
    if not text or _LIST.search(text):
        return False
    said = set(lemmas(about)) - set(lemmas(" ".join(BRIEF_WORDS)))
    return bool(said & set(lemmas(text)))


def fallback(card: PersonaCard, lang: Language, reason: str, about: str) -> str:
    options = FALLBACK[reason][lang]
    text = options.get(card.dora.gender or "female", options.get("", next(iter(options.values()))))
    return text.format(about=short(about, 80))
