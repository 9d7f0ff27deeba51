"""Lorebooks (SillyTavern's World Info): facts about the character's world that enter the prompt
only when the conversation touches them.

Why: a card can describe a city, a family, a made-up history in far more words than a small
model's context holds. An entry has keys; when a key shows up in the last few messages, the
entry's text is put into that turn's prompt, and otherwise it costs nothing.

Two sources are read into one :class:`Lorebook`: a card's ``character_book`` (Character Card V2/V3)
and a standalone World Info JSON file (SillyTavern's export: ``{"entries": {"0": {...}}}``). Both
spellings of every field are accepted (``keys``/``key``, ``secondary_keys``/``keysecondary``,
``insertion_order``/``order``, ``enabled``/``disable``, and the extension fields SillyTavern keeps
in ``extensions``), because cards in the wild mix them.

Matching follows SillyTavern (see :class:`LoreMatcher`): primary keys, then secondary keys under
the entry's selective logic (AND ANY, NOT ALL, NOT ANY, AND ALL), case sensitivity, whole words,
``/regex/flags`` keys, ``constant`` entries, a scan depth in messages, probability, recursion,
insertion order and a token budget. One addition: keys also match by lemma, through a
lemmatiser the caller passes in (the agent gives pymorphy3's, the one memory and the safety rules
use), so a key «Атлантида» fires on «расскажи про Атлантиду». Where an entry goes in the prompt
(SillyTavern's ``position``/``depth``) is not followed: every entry goes after the persona's
stable prefix, so llama.cpp's prefix cache survives (see ``agent/prompts.py``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

DEFAULT_SCAN_DEPTH = 2  # SillyTavern's default: the last two messages
MAX_RECURSION = 3
_WORD = re.compile(r"[0-9a-zа-яё]+(?:['’][a-z]+)?", re.IGNORECASE)
_JOINER = "\n\x01"  # between scanned messages, as SillyTavern joins them: no key spans two messages
_DECORATOR = re.compile(r"^@@\w+.*$\n?", re.MULTILINE)  # V3 decorators (@@depth 4): not DORA's


class Logic(IntEnum):
    """SillyTavern's ``selectiveLogic``: how the secondary keys combine with a primary match."""

    AND_ANY = 0
    NOT_ALL = 1
    NOT_ANY = 2
    AND_ALL = 3


@dataclass(frozen=True)
class LoreEntry:
    uid: str
    name: str  # the entry's comment or name, to show which fired
    keys: tuple[str, ...]
    content: str
    secondary: tuple[str, ...] = ()
    selective: bool = True
    logic: Logic = Logic.AND_ANY
    constant: bool = False
    order: int = 100
    case_sensitive: bool | None = None  # None: the book's default (insensitive)
    whole_words: bool | None = None  # None: the book's default (substring, as SillyTavern's default)
    regex: bool = False  # V3 ``use_regex``: every key is a regular expression
    scan_depth: int | None = None
    probability: int = 100
    exclude_recursion: bool = False  # not activated by other entries' text
    prevent_recursion: bool = False  # its text activates nothing further


@dataclass(frozen=True)
class Lorebook:
    entries: tuple[LoreEntry, ...] = ()
    scan_depth: int | None = None
    token_budget: int | None = None
    recursive: bool = False
    ignored: tuple[str, ...] = ()  # what the book uses that DORA does not (for the operator)

    def __bool__(self) -> bool:
        return bool(self.entries)


@dataclass(frozen=True)
class LoreHit:
    """An entry that fired this turn, and why (the key that matched, or ``constant``)."""

    entry: LoreEntry
    why: str


# -- parsing ------------------------------------------------------------------------------------------


def _get(raw: dict[str, Any], *names: str, default: Any = None) -> Any:
    """The first of ``names`` present (not None) in the entry or its ``extensions``."""
    ext = raw.get("extensions") if isinstance(raw.get("extensions"), dict) else {}
    for source in (raw, ext):
        for name in names:
            if source.get(name) is not None:
                return source[name]
    return default


def _keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    return tuple(k.strip() for k in value if isinstance(k, str) and k.strip())


def _int(value: Any, default: int | None) -> int | None:
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bool(value: Any, default: bool | None) -> bool | None:
    return value if isinstance(value, bool) else default


_UNSUPPORTED = {
    "group": "inclusion groups",
    "sticky": "sticky entries",
    "cooldown": "cooldowns",
    "delay": "delays",
    "automationId": "automation ids",
    "automation_id": "automation ids",
}


def _decorators(content: str) -> set[str]:
    """V3's ``@@name`` lines at the top of an entry's content (``@@activate``, ``@@dont_activate``…)."""
    return {m.group(1).lower() for m in re.finditer(r"^@@(\w+)", content, re.MULTILINE)}


def _entry(raw: dict[str, Any], index: int, book: int, ignored: set[str]) -> LoreEntry | None:
    enabled = _get(raw, "enabled", default=True)
    if _get(raw, "disable", default=False) is True or enabled is False:
        return None
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        return None
    decorators = _decorators(content)
    if "dont_activate" in decorators:
        return None
    if decorators - {"activate", "dont_activate"}:
        ignored.add("V3 decorators other than @@activate / @@dont_activate")
    for key, what in _UNSUPPORTED.items():
        if _get(raw, key) not in (None, "", 0, False):
            ignored.add(what)
    if isinstance(_get(raw, "position"), int | str) and _get(raw, "position") not in (
        0,
        1,
        "before_char",
        "after_char",
    ):
        ignored.add("positions other than before/after the character (all go after the persona)")
    logic = _int(_get(raw, "selectiveLogic", "selective_logic"), 0)
    name = _get(raw, "comment", "name", default="") or ""
    return LoreEntry(
        uid=f"{book}:{_get(raw, 'uid', 'id', default=index)}",  # two books may both have a uid 0
        name=str(name).strip() or f"#{index}",
        keys=_keys(_get(raw, "keys", "key")),
        secondary=_keys(_get(raw, "secondary_keys", "keysecondary")),
        content=_DECORATOR.sub("", content).strip(),
        selective=bool(_get(raw, "selective", default=True)),
        logic=Logic(logic) if logic in (0, 1, 2, 3) else Logic.AND_ANY,
        constant=_get(raw, "constant", default=False) is True or "activate" in decorators,
        order=_int(_get(raw, "insertion_order", "order"), 100) or 0,
        case_sensitive=_bool(_get(raw, "case_sensitive", "caseSensitive"), None),
        whole_words=_bool(_get(raw, "match_whole_words", "matchWholeWords"), None),
        regex=_get(raw, "use_regex", default=False) is True,
        scan_depth=_int(_get(raw, "scan_depth", "scanDepth"), None),
        probability=_probability(raw),
        exclude_recursion=_get(raw, "exclude_recursion", "excludeRecursion", default=False) is True,
        prevent_recursion=_get(raw, "prevent_recursion", "preventRecursion", default=False) is True,
    )


def _probability(raw: dict[str, Any]) -> int:
    if _get(raw, "useProbability", "use_probability", default=True) is False:
        return 100
    value = _int(_get(raw, "probability"), 100)
    return 100 if value is None else max(0, min(100, value))


def _raw_entries(book: dict[str, Any]) -> list[dict[str, Any]]:
    entries = book.get("entries")
    if isinstance(entries, dict):  # SillyTavern's World Info export: {"0": {...}, "1": {...}}
        entries = list(entries.values())
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict)]


def parse_lorebook(books: Iterable[Any]) -> Lorebook:
    """One lorebook from a card's ``character_book`` and World Info files (later books add entries).

    Liberal: a book that is not an object, an entry without content or keys, a disabled entry, a
    field of the wrong type are skipped, never an error; a lorebook is a garnish on a persona.
    """
    entries: list[LoreEntry] = []
    ignored: set[str] = set()
    scan_depth: int | None = None
    budget: int | None = None
    recursive = False
    for number, book in enumerate(books):
        if isinstance(book, list):  # a bare list of entries
            book = {"entries": book}
        if not isinstance(book, dict):
            continue
        scan_depth = _int(book.get("scan_depth"), scan_depth)
        budget = _int(book.get("token_budget"), budget)
        recursive = recursive or book.get("recursive_scanning") is True
        for i, raw in enumerate(_raw_entries(book)):
            entry = _entry(raw, i, number, ignored)
            if entry is not None and (entry.keys or entry.constant):
                entries.append(entry)
    return Lorebook(tuple(entries), scan_depth, budget, recursive, tuple(sorted(ignored)))


# -- matching -----------------------------------------------------------------------------------------

Lemmatizer = Callable[[str], frozenset[str]]  # one lowercased word → its plausible lemmas


def approx_tokens(text: str) -> int:
    """A cheap token count (about 3.5 characters a token for Russian and English BPE vocabularies)."""
    return max(1, round(len(text) / 3.5))


_REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)


@dataclass
class _Text:
    """The scanned text, with its words and their lemmas computed once."""

    raw: str
    lower: str
    words: list[list[tuple[str, frozenset[str]]]] | None = None  # per message
    lemmas: frozenset[str] = frozenset()  # every lemma of every word: a key missing one cannot match


class LoreMatcher:
    """Which entries of a lorebook fire for the recent messages.

    ``lemmatize`` (optional) gives each word's plausible lemmas; without it keys match as text only.
    ``rng`` draws for entries with a probability under 100 (a seeded ``random.Random`` in tests).
    """

    def __init__(
        self,
        lemmatize: Lemmatizer | None = None,
        *,
        count_tokens: Callable[[str], int] = approx_tokens,
        rng: random.Random | None = None,
    ) -> None:
        self.lemmatize = lemmatize
        self.count_tokens = count_tokens
        self.rng = rng or random.Random()
        self._key_words: dict[str, list[tuple[str, frozenset[str]]]] = {}  # keys repeat every turn

    # one key against one text
    def _words(self, text: str) -> list[tuple[str, frozenset[str]]]:
        out = []
        for m in _WORD.finditer(text):
            form = m.group()
            low = form.lower().replace("ё", "е")
            lemmas = self.lemmatize(low) if self.lemmatize else frozenset()
            out.append((form, frozenset(lm.replace("ё", "е") for lm in lemmas) | {low}))
        return out

    def key_matches(self, key: str, text: _Text, entry: LoreEntry) -> bool:
        regex = _REGEX_KEY.match(key)
        if regex or entry.regex:
            pattern, flags = (regex.group(1), regex.group(2)) if regex else (key, "")
            try:
                compiled = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
            except re.error:
                return False
            return compiled.search(text.raw) is not None
        case = bool(entry.case_sensitive)
        haystack, needle = (text.raw, key) if case else (text.lower, key.lower())
        if entry.whole_words and " " not in needle.strip():
            pattern = rf"(?:^|\W)({re.escape(needle)})(?:$|\W)"
            if re.search(pattern, haystack):
                return True
        elif needle in haystack:
            return True
        return self._lemma_match(key, text, case)

    def _lemma_match(self, key: str, text: _Text, case: bool) -> bool:
        """The key's words, in order, among the text's words, each by any shared lemma."""
        if self.lemmatize is None:
            return False
        key_words = self._key_words.get(key)
        if key_words is None:
            key_words = self._key_words[key] = self._words(key)
        if not key_words:
            return False
        if text.words is None:
            text.words = [self._words(part) for part in text.raw.split(_JOINER)]
            text.lemmas = frozenset(lm for words in text.words for _, lemmas in words for lm in lemmas)
        if not all(lemmas & text.lemmas for _, lemmas in key_words):
            return False
        n = len(key_words)
        for words in text.words:
            for start in range(len(words) - n + 1):
                window = words[start : start + n]
                if not all(kw[1] & tw[1] for kw, tw in zip(key_words, window, strict=True)):
                    continue
                if case and any(kw[0][:1] != tw[0][:1] for kw, tw in zip(key_words, window, strict=True)):
                    continue
                return True
        return False

    def _fires(self, entry: LoreEntry, text: _Text) -> str | None:
        """The key that made ``entry`` fire on ``text``, or None."""
        for key in entry.keys:
            if not self.key_matches(key, text, entry):
                continue
            if not (entry.selective and entry.secondary):
                return key
            hits = [self.key_matches(s, text, entry) for s in entry.secondary]
            ok = {
                Logic.AND_ANY: any(hits),
                Logic.AND_ALL: all(hits),
                Logic.NOT_ANY: not any(hits),
                Logic.NOT_ALL: not all(hits),
            }[entry.logic]
            if ok:
                return key
        return None

    def match(
        self, book: Lorebook, messages: Sequence[str], *, token_budget: int | None = None
    ) -> list[LoreHit]:
        """The entries that fire for ``messages`` (oldest first; the last is the user's new one), in
        the order they go into the prompt: lowest ``insertion_order`` first, so the highest ends up
        nearest the conversation, as in SillyTavern.

        The budget (the smaller of the book's and ``token_budget``) is filled from the highest
        insertion order down, constant entries included; the first entry that does not fit stops it
        (SillyTavern's overflow rule).
        """
        if not book.entries:
            return []
        depth = book.scan_depth if book.scan_depth is not None else DEFAULT_SCAN_DEPTH
        texts: dict[int, _Text] = {}

        def scanned(d: int) -> _Text:
            if d not in texts:
                raw = _JOINER.join(messages[-d:]) if d > 0 else ""
                texts[d] = _Text(raw, raw.lower())
            return texts[d]

        fired: dict[str, LoreHit] = {}
        for entry in book.entries:
            if entry.constant:
                fired[entry.uid] = LoreHit(entry, "constant")
                continue
            why = self._fires(entry, scanned(entry.scan_depth if entry.scan_depth is not None else depth))
            if why is not None:
                fired[entry.uid] = LoreHit(entry, f"key «{why}»")
        if book.recursive:
            self._recurse(book, fired, scanned(depth).raw)
        hits = [h for h in fired.values() if h.entry.probability >= 100 or self._roll(h.entry)]
        return self._within_budget(hits, _budget(book.token_budget, token_budget))

    def _recurse(self, book: Lorebook, fired: dict[str, LoreHit], messages: str) -> None:
        """Entries whose keys appear in the messages together with the text of entries that fired
        (SillyTavern's recursion buffer), a few rounds at most."""
        for _ in range(MAX_RECURSION):
            contents = [h.entry.content for h in fired.values() if not h.entry.prevent_recursion]
            source = _JOINER.join([messages, *contents])
            text = _Text(source, source.lower())
            new = {}
            for entry in book.entries:
                if entry.uid in fired or entry.exclude_recursion or entry.constant:
                    continue
                why = self._fires(entry, text)
                if why is not None:
                    new[entry.uid] = LoreHit(entry, f"key «{why}» in another entry")
            if not new:
                return
            fired.update(new)

    def _roll(self, entry: LoreEntry) -> bool:
        return self.rng.random() * 100 < entry.probability

    def _within_budget(self, hits: list[LoreHit], budget: int | None) -> list[LoreHit]:
        by_priority = sorted(hits, key=lambda h: -h.entry.order)  # stable: the book's order on ties
        kept: list[LoreHit] = []
        used = 0
        for hit in by_priority:
            cost = self.count_tokens(hit.entry.content)
            if budget is not None and used + cost > budget:
                break
            kept.append(hit)
            used += cost
        return sorted(kept, key=lambda h: h.entry.order)


def _budget(book: int | None, operator: int | None) -> int | None:
    values = [b for b in (book, operator) if b is not None and b > 0]
    return min(values) if values else None
