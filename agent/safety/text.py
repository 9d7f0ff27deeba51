"""A message as the safety rules read it: normalised text and its words with lemmas.

People in a crisis do not write in dictionary form. They write «хочу умерееееть», «yмpу» with
Latin look-alike letters (keyboards switch, spam filters taught people to), «у6ью», «k!ll my5elf»,
all lower case, no punctuation. The rules and the lexicon see one normal form instead:

- NFKC (full-width and styled letters to plain ones), control, zero-width and bidi characters out;
- inside a word that is mostly Cyrillic, Latin look-alikes and digit stand-ins become the Cyrillic
  letters they imitate; inside a mostly Latin word, leetspeak digits become letters; a number on
  its own stays a number (ages must survive: «мне 14»);
- runs of three or more of one letter collapse to one («плооохо» → «плохо»); ё → е.

Lemmas come from pymorphy3 for Russian (the memory engine's analyser instance) and the Snowball stemmer for
English, one cached call per word form, so a message costs microseconds once warm.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from memory.lexical import analyzers

# The rules read at most this much: the head of a long message and its tail, where a crisis is
# often said last («…короче, вот. прощайте»). The agent trims messages to 4,000 characters anyway.
HEAD_CHARS, TAIL_CHARS = 6000, 2000

_INVISIBLE = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)
_RUN = re.compile(r"([^\W\d_])\1{2,}")
_WORDISH = re.compile(r"[\w@$!|€]+(?:['’][a-z]+)?")

# Latin (and a few symbol) look-alikes of Cyrillic letters, as people type them to dodge filters
# or when the keyboard layout switches mid-word.
_TO_CYRILLIC = str.maketrans(
    {
        "a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "k": "к", "m": "м", "o": "о", "p": "р",
        "t": "т", "x": "х", "y": "у", "u": "и", "r": "г", "n": "п",
        "0": "о", "3": "з", "4": "ч", "6": "б", "@": "а",
    }
)  # fmt: skip
_TO_LATIN = str.maketrans(
    {
        "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l",
        "€": "e", "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "і": "i", "ѕ": "s", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    }
)  # fmt: skip


def _is_cyr(ch: str) -> bool:
    return "а" <= ch <= "я" or ch == "ё"


def _fix_word(word: str) -> str:
    """One word's letters in one script: the script most of its letters are in."""
    if word.isdigit():
        return word
    if word[0].isdigit():  # «7th», «10й», «8б»: an ordinal or a class, not leetspeak
        return word
    cyr = sum(_is_cyr(c) for c in word)
    lat = sum("a" <= c <= "z" or c in "іѕјһԁԛԝ" for c in word)
    if cyr and cyr >= lat:
        return _inner(word, _TO_CYRILLIC)
    if lat and (cyr or any(not c.isalpha() for c in word) or any(c in "іѕјһԁԛԝ" for c in word)):
        return _inner(word, _TO_LATIN)
    return word


def _inner(word: str, table: dict[int, str]) -> str:
    """Letters map wherever they are; a digit or symbol only between two letters («k!ll», «у6ью»),
    so «sophomore!!» keeps its exclamation marks out of the word."""
    out = []
    for i, ch in enumerate(word):
        if ch.isalpha() or (0 < i < len(word) - 1 and word[i - 1].isalpha() and word[i + 1].isalpha()):
            out.append(ch.translate(table))
        else:
            out.append(ch)
    return "".join(out)


def normalize(text: str) -> str:
    """The message in the one form the rules are written for (see the module docstring)."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = f"{text[:HEAD_CHARS]} … {text[-TAIL_CHARS:]}"
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).lower().replace("ё", "е")
    text = _WORDISH.sub(lambda m: _fix_word(m.group()), text)
    return _RUN.sub(r"\1", text)


@dataclass(frozen=True)
class Word:
    """A word of the message: its normalised form, its lemma (or stem, for English), and every
    lemma the analyser finds plausible («стою» is «стоять» or «стоить»: both are kept)."""

    form: str
    lemma: str
    start: int  # character offset in the normalised text
    lemmas: frozenset[str] = frozenset()


_TOKEN = re.compile(r"[а-я]+(?:-[а-я]+)?|[a-z]+(?:'[a-z]+)?|\d+")
_morph, _stemmer = analyzers()  # shared with memory's lexical search


@lru_cache(maxsize=100_000)
def lemma(word: str) -> tuple[str, frozenset[str]]:
    """The most likely lemma of one normalised word, and all plausible ones (numbers: themselves)."""
    if word[0].isdigit():
        return word, frozenset((word,))
    if _is_cyr(word[0]):
        parses = _morph.parse(word)
        forms = [p.normal_form.replace("ё", "е") for p in parses[:4] if p.score >= 0.05] or [
            parses[0].normal_form.replace("ё", "е")
        ]
        return forms[0], frozenset(forms)
    stem = _stemmer.stemWord(word.replace("'", ""))
    return stem, frozenset((stem,))


def words(normalized: str) -> list[Word]:
    """The words of an already normalised text, in order."""
    out = []
    for m in _TOKEN.finditer(normalized):
        best, every = lemma(m.group())
        out.append(Word(m.group(), best, m.start(), every))
    return out
