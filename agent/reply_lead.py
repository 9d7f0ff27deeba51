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

A *request* (a card, a note, a message) whose found line names a person or a pet gets a lead too,
one that says whom the text is for («Конечно! Вот вариант для Эльвиры:»): asked to thank a colleague
with «Эльвира» found, the model wrote «Спасибо за помощь!» and no name; with the lead, it wrote on
to a text with the name in it. Other requests (a bio, a plan) start as the model starts them.
"""

from __future__ import annotations

import re
import zlib

from agent.language import Language
from agent.memory_view import names_the_user
from agent.memory_view import to_user as fact_to_user
from agent.recall import asks_about_user, asks_for_help_with_own_life
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
# an English line with no subject, about the user ("lives in Leeds", as the reader's examples write)
_EN_SUBJECTLESS = re.compile(
    r"^(?:lives|works|studies|has|is|loves|likes|hates|owns|goes|keeps|moved|quit)\b", re.IGNORECASE
)
# the reader's transliteration of the fact lines' «Собеседник» ("Sobesednik quit bakery")
_EN_TRANSLIT_USER = re.compile(r"^sobesedni\w*\s+", re.IGNORECASE)


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


def _ru_word(word: str) -> str:
    """The user's own word said to them: «я» → «ты», «работаю» → «работаешь»."""
    low = word.lower()
    if low in _RU_PRONOUNS:
        return _RU_PRONOUNS[low]
    parse = analyzers()[0].parse(low)[0]
    if {"VERB", "1per", "sing"} in parse.tag and (second := parse.inflect({"2per"})) is not None:
        return second.word
    return word


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def to_user(text: str, lang: Language) -> str:
    """``text`` said to the user: a line about them (naming them, «Собеседник учится…», or with no
    subject, «живёт в Твери», "lives in Leeds") as /memory puts a fact
    (:func:`agent.memory_view.to_user`); their own words with the first person turned to the second
    («работаю в книжном» → «ты работаешь в книжном», "my sister Ann" → "your sister Ann")."""
    text = _EN_TRANSLIT_USER.sub("user ", text.strip())
    first = text.split(maxsplit=1)[0] if text else ""
    if lang == "en":
        if names_the_user(first) or first.lower() == "the":
            return _lower_first(fact_to_user(text, "en"))
        if _EN_SUBJECTLESS.match(text):
            return _lower_first(fact_to_user(f"the user {text}", "en"))
        return "".join(_EN_PRONOUNS.get(t.lower(), t) for t in _TOKEN.findall(text))
    if names_the_user(first):
        return _lower_first(fact_to_user(text, "ru"))
    if {"VERB", "3per", "sing"} in analyzers()[0].parse(first.lower())[0].tag:
        return _lower_first(fact_to_user(f"собеседник {text}", "ru"))
    tokens = _TOKEN.findall(text)
    out = [_ru_word(t) if t[:1].isalpha() else t for t in tokens]
    said = "".join(w if w.lower() != t.lower() else t for w, t in zip(out, tokens, strict=True))
    # «работаю в книжном» → «ты работаешь в книжном»: the Russian verb drops its «я», the reply says «ты»
    if out and out[0].lower() != tokens[0].lower() and tokens[0].lower() not in _RU_PRONOUNS:
        said = f"ты {said}"
    return said


# the first words of a reply that answers from memory: a refusal cannot follow them
_FRAMES: dict[Language, tuple[str, ...]] = {
    "ru": ("Конечно, помню:", "Помню, конечно:"),
    "en": ("Of course I remember:", "I remember:"),
}


# a request whose answer is written for or about someone the user named: the reply begins by saying
# whom it is for, so the name is in the model's own text before it writes the card
_FOR_WHOM: dict[Language, str] = {
    "ru": "Конечно! Вот вариант для {name}:",
    "en": "Sure! Here's one for {name}:",
}
_EN_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?|^[A-Z][a-z]+$")


def _named(found: str, lang: Language) -> str:
    """The person or pet the reader's line names, as the lead says it («Арина» → «Арины»), or ""."""
    if lang == "en":
        match = _EN_NAME.search(found.strip())
        return match.group(0) if match else ""
    morph = analyzers()[0]
    for word in _TOKEN.findall(found):
        parses = morph.parse(word)
        # a capital makes any name reading likely («Вера»); in lower case only the first («эльвира»)
        candidates = parses if word[:1].isupper() else parses[:1]
        parse = next((p for p in candidates if {"Name"} in p.tag), None)
        if parse is not None and (genitive := parse.inflect({"gent"})) is not None:
            return genitive.word[:1].upper() + genitive.word[1:]
    return ""


def reply_lead(found: str, message: str, lang: Language) -> str:
    """The reply's first words for ``message``, when it asks about the user's own life and the reader
    found the answer (``found``): that it is remembered, in one of a few ways (picked by the message,
    so a retry reads the same), then what was found, said to the user; the model writes on from there.
    "" otherwise (nothing found, or a request, which starts otherwise)."""
    if not found:
        return ""
    if not asks_about_user(message):
        if asks_for_help_with_own_life(message) and (name := _named(found, lang)):
            return _FOR_WHOM.get(lang, _FOR_WHOM["ru"]).format(name=name)
        return ""
    frames = _FRAMES.get(lang, _FRAMES["ru"])
    frame = frames[zlib.crc32(message.encode("utf-8")) % len(frames)]
    said = found.strip().rstrip(".!?…,;:")
    if lang != "en":
        said = _ru_nominative(said)
    return f"{frame} {to_user(said, lang)}"
