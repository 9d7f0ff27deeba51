"""The first words of a reply to a question about the user's life, from what the reader found.

Asked «как зовут моего кота?» with «Бублик» picked out by the reader (:mod:`agent.memory_reader`)
and written into the note after the message, the embedded 1.5B model still answered «Извините, но
я не могу помочь вам с этим» in some samples, or said the user's life as its own («я работаю
медсестрой»). A reply that has already begun with the answer is one it carries on from: the local
backend continues an assistant message that ends the prompt (:mod:`agent.llm.local`). So for a
*question* about the user's own life (not a request: a card or a plan starts otherwise), the reply
starts «Помню, конечно: » and the reader's line said to the user («бегаю в парке» → «ты бегаешь в
парке»; «Казани» → «Казань»), and the persona's model writes the rest. Measured (README, issue 18):
the line alone gave bare fragments («Казани.»), the frame alone let the model stop («Ещё бы не
помнить!») or speak as the user; the two together answered 35 of the tuning set's 40 questions
where the note alone answered 31. Never in a turn the safety rules speak in (:mod:`agent.graph`).
"""

from __future__ import annotations

import re
import zlib

from agent.language import Language
from agent.recall import asks_about_user
from memory.lexical import analyzers

__all__ = ["reply_lead", "to_user"]

_RU_PRONOUNS = {
    "я": "ты",
    "меня": "тебя",
    "мне": "тебе",
    "мной": "тобой",
    "мой": "твой",
    "моя": "твоя",
    "моё": "твоё",
    "мое": "твое",
    "мои": "твои",
    "моего": "твоего",
    "моей": "твоей",
    "моему": "твоему",
    "моих": "твоих",
    "моим": "твоим",
    "моими": "твоими",
    "мою": "твою",
    "мы": "вы",
    "нас": "вас",
    "нам": "вам",
    "наш": "ваш",
    "наша": "ваша",
    "наше": "ваше",
    "наши": "ваши",
}
_EN_PRONOUNS = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "i'm": "you're",
    "im": "you're",
    "am": "are",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "we": "you",
    "us": "you",
    "our": "your",
}
_TOKEN = re.compile(r"[\w'’-]+|[^\w\s]+|\s+", re.UNICODE)
# a line with no subject, about the user ("lives in Leeds"): its verb, said to them
_EN_SECOND = {
    "lives": "live",
    "works": "work",
    "studies": "study",
    "has": "have",
    "is": "are",
    "loves": "love",
    "likes": "like",
    "hates": "hate",
    "owns": "own",
    "goes": "go",
    "keeps": "keep",
}
_EN_THIRD = re.compile(rf"^(?:{'|'.join(_EN_SECOND)})$")


def _ru_nominative(text: str) -> str:
    """The line's leading noun phrase in the nominative: the reader copies the user's words in the
    case their sentence needed («живу в Казани» → «Казани»), which reads broken on its own. Only the
    words before anything else (a preposition, a verb, a number) change: «свитер для мамы» keeps
    «мамы»."""
    morph = analyzers()[0]
    out, leading = [], True
    for token in _TOKEN.findall(text):
        if leading and token[:1].isalpha():
            parse = morph.parse(token.lower())[0]
            if {"NOUN"} in parse.tag or {"ADJF"} in parse.tag:
                # a word the dictionary only guesses at keeps its form («скалодром» is no «скалодр»)
                known = morph.word_is_known(token.lower())
                if known and "nomn" not in parse.tag and (nominative := parse.inflect({"nomn"})) is not None:
                    word = nominative.word
                    token = word[:1].upper() + word[1:] if token[:1].isupper() else word
            else:
                leading = False
        elif token.strip():
            leading = False
        out.append(token)
    return "".join(out)


def _ru_word(word: str, first: bool) -> str:
    low = word.lower()
    if low in _RU_PRONOUNS:
        return _RU_PRONOUNS[low]
    parse = analyzers()[0].parse(low)[0]
    tag = parse.tag
    # «работаю» is the user's own verb; «живёт» only as the line's first word (no subject of its own:
    # «живёт в Твери»), not in «сестра Аня любит вязать»
    if "VERB" in tag and "sing" in tag and ("1per" in tag or ("3per" in tag and first)):
        inflected = parse.inflect({"2per"})
        if inflected is not None:
            return inflected.word
    return word


def to_user(text: str, lang: Language) -> str:
    """``text`` (the user's words, or a line about them with no subject) said to them."""
    out, first = [], True
    for token in _TOKEN.findall(text):
        if not token.strip() or not (token[0].isalnum() or token[0] == "_"):
            out.append(token)
            continue
        low = token.lower()
        if lang == "en":
            word = _EN_PRONOUNS.get(low) or token
            if first and _EN_THIRD.match(low):  # "lives in Leeds": the user is the one who lives
                word = f"you {_EN_SECOND[low]}"
        else:
            word = _ru_word(token, first)
            if first and word != token and low not in _RU_PRONOUNS:  # «живёт в Твери» → «ты живёшь…»
                word = f"ты {word}"
        out.append(word if word.lower() != low else token)
        first = False
    return "".join(out)


_PROMPTS_NAME = re.compile(
    r"^(?:собеседни\w*|пользовател\w*|sobesednik\w*|the\s+user|user)\s+", re.IGNORECASE
)
# the first words of a reply that answers from memory: a refusal cannot follow them
_FRAMES: dict[Language, tuple[str, ...]] = {
    "ru": ("Конечно, помню:", "Помню, конечно:"),
    "en": ("Of course I remember:", "I remember:"),
}


def reply_lead(found: str, message: str, lang: Language) -> str:
    """The reply's first words for ``message``, when it asks about the user's own life and the reader
    found the answer (``found``): that it is remembered, in one of a few ways (picked by the message,
    so a retry reads the same), then what was found, said to the user; the model writes on from there.
    "" otherwise (nothing found, or a request, which starts otherwise)."""
    if not found or not asks_about_user(message):
        return ""
    frames = _FRAMES.get(lang, _FRAMES["ru"])
    frame = frames[zlib.crc32(message.encode("utf-8")) % len(frames)]
    # the fact lines' name for the user («Собеседник учится…», even "Sobesednik quit…"): the reply
    # talks to them
    said = _PROMPTS_NAME.sub("", found.strip()).rstrip(".!?…,;:")
    if lang != "en":
        said = _ru_nominative(said)
    return f"{frame} {to_user(said, lang)}"
