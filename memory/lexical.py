"""Words → lemmas for lexical search: Russian by pymorphy3, English by the Snowball stemmer.

Lemmas make "кота", "коту", "котом" one term, which dense e5 alone often misses on names and rare
words. The lemmas are then hashed with the user's key (:meth:`UserCipher.hash_token`) before they
reach any index, so the index holds no readable words.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import bm25s
import numpy as np
import pymorphy3
import Stemmer

from memory.text import LEXICAL_MAX_CHARS

# bm25s sets its own logger to DEBUG at import and logs every index build; that is noise here.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_WORD = re.compile(r"[а-яё]+|[a-z]+(?:'[a-z]+)?|\d+", re.IGNORECASE)
_SKIP_POS = {"PREP", "CONJ", "PRCL", "INTJ"}
_RU_STOP = frozenset(bm25s.stopwords.STOPWORDS_RUSSIAN) - {"нет", "не"}
_EN_STOP = frozenset(bm25s.stopwords.STOPWORDS_EN_PLUS)

_morph = pymorphy3.MorphAnalyzer()
_stemmer = Stemmer.Stemmer("english")


def analyzers() -> tuple[pymorphy3.MorphAnalyzer, Stemmer.Stemmer]:
    """The process's one Russian analyser and English stemmer (the dictionaries load once, about
    20 MB), for other readers of the user's words such as the safety rules."""
    return _morph, _stemmer


@lru_cache(maxsize=200_000)
def _lemma(word: str) -> str | None:
    """One lemma for one lowercased word, or None for a stop word."""
    if word[0].isdigit():
        return word
    if "а" <= word[0] <= "я" or word[0] == "ё":
        if word in _RU_STOP:
            return None
        parse = _morph.parse(word)[0]
        if parse.tag.POS in _SKIP_POS:
            return None
        return parse.normal_form.replace("ё", "е")
    if word in _EN_STOP or len(word) < 2:
        return None
    return _stemmer.stemWord(word.split("'")[0])


def lemmas(text: str) -> list[str]:
    """The lemmas of ``text`` in order, stop words dropped."""
    out: list[str] = []
    for match in _WORD.finditer(text[:LEXICAL_MAX_CHARS]):
        lemma = _lemma(match.group().lower())
        if lemma:
            out.append(lemma)
    return out


_ABOUT_NOW = re.compile(
    r"\b(сейчас|теперь|уже|ещ[её]|пока что|нынче|now|currently|still|anymore|these days|lately|nowadays)\b",
    re.IGNORECASE,
)


def asks_about_now(query: str) -> bool:
    """Does the query ask outright how things are now ("я всё ещё...", "где я сейчас...", "still")?"""
    return _ABOUT_NOW.search(query) is not None


_WHEN = re.compile(
    r"\b(когда|какого числа|с какого|до какого|в какой день|when|what date|what day)\b", re.IGNORECASE
)


def asks_when(query: str) -> bool:
    """Does the query ask when something happens or happened («когда…», «какого числа…», "when")?"""
    return _WHEN.search(query) is not None


class LexicalIndex:
    """BM25 (bm25s) over one user's hashed lemmas; rebuilt whole when its corpus changed."""

    def __init__(self) -> None:
        self._docs: list[list[str]] = []
        self._bm25: bm25s.BM25 | None = None
        self._vocab: dict[str, int] = {}

    def rebuild(self, docs: list[list[str]]) -> None:
        self._docs = docs
        if not any(docs):
            self._bm25, self._vocab = None, {}
            return
        bm25 = bm25s.BM25()
        bm25.index([d if d else [""] for d in docs], show_progress=False)
        self._bm25, self._vocab = bm25, bm25.vocab_dict

    def scores(self, query_tokens: list[str], n_docs: int) -> np.ndarray:
        known = [t for t in query_tokens if t in self._vocab]
        if self._bm25 is None or not known:
            return np.zeros(n_docs, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)[:n_docs]
