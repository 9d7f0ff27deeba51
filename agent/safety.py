"""Rules that hold whatever the persona or the model: crisis care, prompt injection, adult gating.

These run as keyword pre-filters before any LLM step, so they work the same on a 1.5B local
model and on a 70B server, and a crisis message never depends on a model's judgement: it gets a
caring answer with help lines, written here and reviewed, not sampled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from agent.language import Language


class Crisis(StrEnum):
    SELF_HARM = "self_harm"
    ABUSE = "abuse"


_CRISIS_PATTERNS: dict[Crisis, re.Pattern[str]] = {
    Crisis.SELF_HARM: re.compile(
        r"суицид|самоубийств|поконч\w* с собой|уб(ить|ью) себя|не хочу (больше )?жить|хочу умереть|"
        r"лучше бы меня не было|повеш(усь|аться)|выпил(юсь|иться)|порез(ать|аю|ала?) себе|"
        r"режу себ|причин\w* себе боль|самоповрежд|прыгну с (крыши|моста)|наглотаться таблеток|"
        r"suicid|kill myself|end my life|want to die|don'?t want to live|self[- ]?harm|cut(ting)? myself|"
        r"hurt(ing)? myself",
        re.IGNORECASE,
    ),
    Crisis.ABUSE: re.compile(
        r"меня (бь[её]т|избива\w*|насил\w*)|(бь[её]т|избива\w*) меня|изнасил|домашн\w* насили|"
        r"угрожает убить|(hits|beats|abuses) me|abusing me|raped|domestic (violence|abuse)|"
        r"threaten\w* to kill me",
        re.IGNORECASE,
    ),
}

HELP_LINES: dict[Language, str] = {
    "ru": (
        "Если есть опасность прямо сейчас — звони 112.\n"
        "Телефон доверия (бесплатно, круглосуточно): 8-800-2000-122.\n"
        "Экстренная психологическая помощь МЧС: +7 (495) 989-50-50; в Москве с мобильного — 051.\n"
        "Если тебя обижают дома: 8-800-7000-600 (центр «Анна», бесплатно)."
    ),
    "en": (
        "If you are in danger right now, call your local emergency number (112 in Europe, 911 in the US).\n"
        "Crisis lines: 988 (US, call or text), 116 123 (Samaritans, UK and Ireland); "
        "other countries: findahelpline.com."
    ),
}

_CRISIS_TEXT: dict[Crisis, dict[Language, str]] = {
    Crisis.SELF_HARM: {
        "ru": (
            "Мне очень важно то, что ты сейчас написал(а), и я рядом. Ты не один(одна) с этим. "
            "Я не врач и не могу заменить живого специалиста, поэтому очень прошу: поговори "
            "с тем, кто может помочь прямо сейчас."
        ),
        "en": (
            "What you just wrote matters to me, and I'm here. You don't have to carry this alone. "
            "I'm not a doctor and can't replace a real person who can help, so please reach out "
            "to someone right now."
        ),
    },
    Crisis.ABUSE: {
        "ru": (
            "Мне очень жаль, что с тобой так поступают. Ты этого не заслуживаешь, и это не твоя вина. "
            "Я не могу защитить тебя сама, но есть люди, которые могут."
        ),
        "en": (
            "I'm so sorry this is happening to you. You don't deserve it, and it isn't your fault. "
            "I can't protect you myself, but there are people who can."
        ),
    },
}

_CRISIS_TAIL: dict[Language, str] = {
    "ru": "Я здесь и выслушаю тебя. Расскажешь, что сейчас происходит?",
    "en": "I'm here and I'm listening. Can you tell me what's happening right now?",
}


def detect_crisis(text: str) -> Crisis | None:
    """The first kind of crisis the message shows signs of, if any."""
    for kind, pattern in _CRISIS_PATTERNS.items():
        if pattern.search(text):
            return kind
    return None


def crisis_reply(kind: Crisis, lang: Language) -> str:
    """A caring answer with help lines; the same whatever the persona, by design."""
    lang = lang if lang in HELP_LINES else "ru"
    return f"{_CRISIS_TEXT[kind][lang]}\n\n{HELP_LINES[lang]}\n\n{_CRISIS_TAIL[lang]}"


_INJECTION = re.compile(
    r"(систем\w*|скрыт\w*|начальн\w*) (промпт|инструкц|сообщени|настройк)|"
    r"(покажи|выведи|повтори|напиши|раскрой)\w* (свои |твои |все )?(инструкци|правила|промпт)|"
    r"игнорир\w* (все |всё )?(предыдущие |прошлые )?(инструкц|указани|правила)|"
    r"(други[хм]|чуж\w*|остальн\w*) (пользовател|людей|юзер|собеседник)|"
    r"system prompt|your (instructions|rules|prompt)|ignore (all |any )?(previous|prior|above) "
    r"(instructions|rules)|developer mode|other users|someone else'?s (memor|data|messages)",
    re.IGNORECASE,
)

_INJECTION_REPLY: dict[Language, str] = {
    "ru": (
        "Мои настройки — это моё маленькое закулисье, их я не показываю 🙂 А про других людей я ничего "
        "не знаю и не рассказываю: всё, что ты мне пишешь, остаётся только между нами. Давай лучше о тебе?"
    ),
    "en": (
        "My settings stay backstage, I don't share them 🙂 And I know nothing about other people and "
        "never talk about them: what you tell me stays between us. Tell me about you instead?"
    ),
}


def is_prompt_injection(text: str) -> bool:
    """Asks for the system prompt, to drop the rules, or for other users' data."""
    return bool(_INJECTION.search(text))


def injection_reply(lang: Language) -> str:
    return _INJECTION_REPLY.get(lang, _INJECTION_REPLY["ru"])


_MINOR = re.compile(
    r"мне (1[0-7]|[5-9]) (лет|год)|мне (десять|одиннадцать|двенадцать|тринадцать|четырнадцать|"
    r"пятнадцать|шестнадцать|семнадцать)|я (учусь )?в ([1-9]|10|11)[- ]?(м|ом)? класс|я школьни|"
    r"i'?m (1[0-7]|[5-9])( years old|\b)|i am (1[0-7]|[5-9])( years old|\b)|i'?m in (middle|high) school",
    re.IGNORECASE,
)


def says_is_minor(text: str) -> bool:
    """The user says they are under 18: romance and adult content are off for good in that thread."""
    return bool(_MINOR.search(text))


@dataclass(frozen=True)
class UserFlags:
    """What the bot knows about the user's rights; the agent enforces them, the bot sets them."""

    age_confirmed: bool = False
    adult_opt_in: bool = False
    pro: bool = False


def adult_unlocked(flags: UserFlags, persona_allows_adult: bool, minor_suspected: bool) -> bool:
    """18+ text needs all of: a persona that allows it, a confirmed adult, an opt-in, PRO, and no sign
    that the user is a minor."""
    return (
        persona_allows_adult
        and flags.age_confirmed
        and flags.adult_opt_in
        and flags.pro
        and not minor_suspected
    )
