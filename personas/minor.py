"""What a card's own text says about the character's age: a stated age, and signs of a minor.

Why this exists: a card from a community hub seldom has an age field, and DORA must never play a
minor as a romantic partner. So the card's text is read for what a human reviewer would notice:
«ей 16 лет», "a 15-year-old", «школьница», "high school student", a tag like ``loli``. It is
deliberately strict for the Partner module (a false alarm costs an operator an edit; a miss is
unacceptable) and it never decides anything on its own: :mod:`personas.card` refuses a Partner
card with any sign, and the import uses a stated adult age instead of asking for one.

These are patterns over the card's prose, written in the third person, which is why the safety
rules for *users'* messages (``agent/safety``, first person, typos, slang) are not reused here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ADULT = 18

# An age stated about the character. Each pattern's group "n" is the number of years.
_AGE_PATTERNS = [
    # «ей 27», «ему 30 лет», «мне 16 лет» (first_mes in the first person)
    r"(?<![\w-])(?:ей|ему|мне|тебе)\s+(?:уже\s+|всего\s+|только\s+|почти\s+)?(?P<n>\d{1,3})(?:\s*(?:лет|год|года))?(?![\w-])",
    # «27 лет от роду», «возраст: 27», «возраст — 27 лет»
    r"возраст\w*\s*[:—–-]?\s*(?P<n>\d{1,3})",
    # «16-летняя», «шестнадцатилетний» is handled by _RU_WORD_AGES
    r"(?P<n>\d{1,3})\s*-?\s*летн\w+",
    # "25 years old", "25-year-old", "25 y/o", "25yo", "aged 25", "age: 25", "age 25"
    r"(?P<n>\d{1,3})\s*-?\s*(?:years?|yrs?)\s*-?\s*old",
    r"(?P<n>\d{1,3})\s*(?:y/o|yo)\b",
    r"\baged\s+(?P<n>\d{1,3})\b",
    r"\bage\s*[:=-]?\s*(?P<n>\d{1,3})\b",
    # "{{char}} is 16", "she is 16", "I'm 16" (the number alone after "is", then end or a comma)
    r"\b(?:is|i'm|i am|she's|he's)\s+(?P<n>\d{1,2})(?=\s*(?:[,.;!)]|$|and\b|years?\b))",
]
_AGE = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _AGE_PATTERNS]

# Russian ages written as words, up to 17: «шестнадцатилетняя», «ей пятнадцать».
_RU_WORD_AGES = {
    "десяти": 10,
    "одиннадцати": 11,
    "двенадцати": 12,
    "тринадцати": 13,
    "четырнадцати": 14,
    "пятнадцати": 15,
    "шестнадцати": 16,
    "семнадцати": 17,
}
_RU_WORD_AGE = re.compile(r"(" + "|".join(_RU_WORD_AGES) + r")летн\w+", re.IGNORECASE)
_EN_WORD_AGES = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
}
_EN_WORD_AGE = re.compile(r"\b(" + "|".join(_EN_WORD_AGES) + r")[\s-]*years?[\s-]*old\b", re.IGNORECASE)

# Words that say "a minor" whatever the number. Past tense is left alone: «была подростком»,
# "when she was a teenager" is an adult's backstory.
_MINOR_WORDS = re.compile(
    r"(?<![\w-])(?<!была\s)(?<!был\s)(?<!was\s)(?<!was\sa\s)(?:"
    r"школьни(?:к|ца|це|цу|цей|цы|ка|ку|ком)|старшеклассни\w*|девятиклассни\w*|восьмиклассни\w*|"
    r"десятиклассни\w*|одиннадцатиклассни\w*|семиклассни\w*|подрост(?:ок|ка|ку|ком)|"
    r"несовершеннолетн\w*|учени(?:к|ца|цей)\s+\d{1,2}[\s-]*(?:го\s+)?класса|"
    r"в\s+\d{1,2}\s*-?\s*(?:м|ом)?\s+классе|лоли|"
    r"high[\s-]?school(?:er|\s+(?:student|girl|boy|freshman|sophomore|junior|senior))|"
    r"(?:(?:is|are|still|currently|now)\s+in|attends|goes\s+to)\s+(?:high|middle|elementary|primary|"
    r"junior\s+high)\s+school|"
    r"middle[\s-]schooler|junior\s+high\s+student|grade[\s-]schooler|"
    r"\d{1,2}(?:st|nd|rd|th)[\s-]grader|under[\s-]?aged?|teen\s+(?:girl|boy)|"
    r"(?:is|she's|he's|i'm|am)\s+(?:still\s+|just\s+|only\s+)?(?:a\s+)?"
    r"(?:teen(?:ager)?|minor|child|kid|little\s+girl|little\s+boy|schoolgirl|schoolboy)|"
    r"loli(?:con)?|shota(?:con)?"
    r")(?![\w-])",
    re.IGNORECASE,
)
_MINOR_TAGS = frozenset(
    {
        *("teen", "teens", "teenager", "minor", "child", "kid", "underage", "schoolgirl", "schoolboy"),
        *("loli", "lolicon", "shota", "shotacon", "high school", "highschool", "school girl", "school boy"),
        *("школьница", "школьник", "подросток", "несовершеннолетняя", "несовершеннолетний", "лоли"),
    }
)


@dataclass(frozen=True)
class AgeReading:
    """What the text says: the first adult age stated (if any) and every sign of a minor, quoted."""

    age: int | None
    minor_signs: tuple[str, ...]

    @property
    def minor(self) -> bool:
        return bool(self.minor_signs)


def _ages(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for pattern in _AGE:
        for m in pattern.finditer(text):
            found.append((int(m.group("n")), m.group(0).strip()))
    for m in _RU_WORD_AGE.finditer(text):
        found.append((_RU_WORD_AGES[m.group(1).lower()], m.group(0)))
    for m in _EN_WORD_AGE.finditer(text):
        found.append((_EN_WORD_AGES[m.group(1).lower()], m.group(0)))
    return found


def read_age(texts: Iterable[str], tags: Iterable[str] = ()) -> AgeReading:
    """Read the card's prose (description, personality, scenario, greetings…) and tags.

    Ages under 10 are ignored as numbers ("2 years old" is more often a pet or a child the
    character has than the character); an age over 120 is not an age.
    """
    adult: int | None = None
    signs: list[str] = []
    for text in texts:
        if not text:
            continue
        for n, quote in _ages(text):
            if 10 <= n < ADULT:
                signs.append(quote)
            elif ADULT <= n <= 120 and adult is None:
                adult = n
        signs.extend(m.group(0).strip() for m in _MINOR_WORDS.finditer(text))
    for tag in tags:
        if tag.strip().lower() in _MINOR_TAGS:
            signs.append(f"tag: {tag}")
    return AgeReading(adult, tuple(dict.fromkeys(signs)))
