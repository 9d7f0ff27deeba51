"""Personal data out of training text: what a user said about themselves must not be learned by a
model that will talk to everyone else.

Patterns first (e-mail addresses, phone numbers, street addresses, "меня зовут …" / "my name is …",
in Russian and English), then natasha's named-entity tagger on Russian text for the names of people
([NAME]) and places ([LOCATION]) the patterns cannot know. Each is replaced by a placeholder, and
counted by kind for the dataset card. natasha is in the optional ``train`` extra and is imported only
when a scrubber first needs it (its model ships inside its wheel: nothing is downloaded).

What it cannot promise: English names outside those phrases (natasha reads Russian only), nicknames
written in lower case, and anything identifying without being a name, a place or a number (a rare job
title, a story). The dataset card says so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

PLACEHOLDER = {
    "EMAIL": "[EMAIL]",
    "PHONE": "[PHONE]",
    "ADDRESS": "[ADDRESS]",
    "NAME": "[NAME]",
    "LOCATION": "[LOCATION]",
}

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?!\w)")
# a run of digits with the separators people type; which runs are phone numbers is decided by _phone
PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().\-]{5,}\d(?!\w)")
DATE_LIKE = re.compile(r"^\d{1,4}[.\-/]\d{1,2}[.\-/]\d{1,4}$")
_STREET_RU = (
    r"ул\.|улиц[аеуы]|пр-т|просп\.|проспект[аеу]?|пер\.|переул(?:ок|ке|ка)|б-р|бульвар[аеу]?|"
    r"шоссе|наб\.|набережн(?:ая|ой|ую)|пл\.|площад(?:ь|и)|мкр\.?|микрорайон[аеу]?"
)
ADDRESS_RU = re.compile(
    rf"(?<!\w)(?i:{_STREET_RU})\s*[А-ЯЁA-Z0-9][\w\-]*(?:\s+[А-ЯЁ][\w\-]*)?"
    r"(?:,?\s*(?i:д\.|дом)?\s*\d+(?:[а-яa-z]|/\d+)?(?!\w))?"
    r"(?:,?\s*(?i:корп\.|корпус|стр\.|строение)\s*\d+)?"
    r"(?:,?\s*(?i:кв\.|квартир[аеуы])\s*\d+)?"
)
HOUSE_RU = re.compile(r"(?<!\w)(?i:дом|д\.)\s*\d+\w?,?\s*(?i:кв\.|квартир[аеуы])\s*\d+")
ADDRESS_EN = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}"
    r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Boulevard|Blvd\.?|Drive|Dr\.?|Court|Ct\.?|Way)"
    r"(?:,?\s*(?:Apt\.?|Apartment|Unit|#)\s*\w+)?"
)
# a name the user gives in so many words, in either language (the tagger misses some, English always)
NAMED = re.compile(
    r"(?P<lead>(?i:меня зовут|зовут меня|моё имя|мое имя|my name is|call me|i am called|i'm called)\s+)"
    r"(?P<name>[A-ZА-ЯЁ][a-zа-яё\-]+(?:\s+[A-ZА-ЯЁ][a-zа-яё\-]+)?)"
)
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _phone(match: re.Match[str]) -> bool:
    """A run of digits that reads as a phone number, not a date, a sum or a year."""
    text = match.group(0).strip()
    if DATE_LIKE.match(text):
        return False
    digits = sum(c.isdigit() for c in text)
    if text.startswith("+"):
        return 8 <= digits <= 15
    if text.isdigit():  # no separators: only a Russian number written whole (89161234567)
        return digits == 11 and text[0] in "78"
    return 10 <= digits <= 15 or bool(re.fullmatch(r"\d{3}-\d{2}-\d{2}", text))


class Scrubber:
    """Replaces personal data with placeholders and counts what it replaced (``counts``, by kind).
    ``ner`` off: the patterns only (tests of the patterns, or an operator without the extra).
    ``keep``: names never replaced (the personas' own: «Дора» in a reply is not the user's data)."""

    def __init__(self, *, ner: bool = True, keep: Iterable[str] = ()) -> None:
        self.ner = ner
        self.counts: Counter[str] = Counter()
        self._keep = {_stem(word) for name in keep for word in name.split() if word.strip()}
        self._tagger: Any = None

    def scrub(self, text: str) -> str:
        text = self._sub(EMAIL, "EMAIL", text)
        text = self._sub(PHONE_CANDIDATE, "PHONE", text, accept=_phone)
        for pattern in (ADDRESS_RU, HOUSE_RU, ADDRESS_EN):
            text = self._sub(pattern, "ADDRESS", text)
        text = self._names(text)
        if self.ner and CYRILLIC.search(text):
            text = self._entities(text)
        return text

    def _sub(self, pattern: re.Pattern[str], kind: str, text: str, accept: Any = None) -> str:
        def replace(match: re.Match[str]) -> str:
            if accept is not None and not accept(match):
                return match.group(0)
            self.counts[kind] += 1
            return PLACEHOLDER[kind]

        return pattern.sub(replace, text)

    def _kept(self, name: str) -> bool:
        """Every word of ``name`` is a form of a kept name («Доры», «Дорой» of «Дора»; «Вероника» is
        not one of «Вера»)."""
        words = name.split()
        return bool(words) and all(_stem(word) in self._keep for word in words)

    def _names(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if self._kept(match.group("name")):
                return match.group(0)
            self.counts["NAME"] += 1
            return match.group("lead") + PLACEHOLDER["NAME"]

        return NAMED.sub(replace, text)

    def _entities(self, text: str) -> str:
        """Names of people and places, by natasha's Russian news NER (slovnet under it)."""
        from natasha import Doc

        segmenter, tagger = self._natasha()
        doc = Doc(text)
        doc.segment(segmenter)
        doc.tag_ner(tagger)
        kinds = {"PER": "NAME", "LOC": "LOCATION"}
        out = text
        for span in sorted(doc.spans, key=lambda s: s.start, reverse=True):
            kind = kinds.get(span.type)
            piece = text[span.start : span.stop]
            if kind is None or "[" in piece or "]" in piece or self._kept(piece):
                continue
            self.counts[kind] += 1
            out = out[: span.start] + PLACEHOLDER[kind] + out[span.stop :]
        return out

    def _natasha(self) -> tuple[Any, Any]:
        if self._tagger is None:
            try:
                from natasha import NewsEmbedding, NewsNERTagger, Segmenter
            except ImportError as exc:
                raise ScrubberMissingError(
                    "scrubbing names needs natasha: pip install -e '.[train]' (or pass --no-scrub, and "
                    "scrub the data yourself)"
                ) from exc
            self._tagger = (Segmenter(), NewsNERTagger(NewsEmbedding()))
        return self._tagger


# Russian case endings of first names, taken off before names are compared
_VOWEL_END = re.compile(r"(?:а|я|ы|и|е|у|ю|ой|ей|ою|ею|ом|ем|ь|й|о)$")


def _stem(word: str) -> str:
    """A first name without its case ending («Дорой» → «дор», «Марка» → «марк», «Марк» → «марк»)."""
    return _VOWEL_END.sub("", word.lower().strip(".,!?«»\"'"))


class ScrubberMissingError(RuntimeError):
    """natasha, which the name scrubber needs, is not installed."""
