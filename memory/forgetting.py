"""Forgetting a subject: every memory that states it, what was derived from it, and how to tell a
sentence that still mentions it.

A user who says "forget my cat" means the cat, not one row. What states it: the facts and the
user's own messages (episodes) whose words name it (lemmas, so «кота» is «кот»), plus the name
those memories give it right beside it («кот Бублик», "my ex Tom": a capitalised word or a known
first name), so «Бублик опять разбил вазу» goes too, though it never says «кот». Meaning alone (e5)
is not used: on our probe set a one-word topic's cosine to unrelated messages of the same user reached
0.85-0.87 («кот» and «катя хочет остаться тут насовсем» 0.852; «бывший» and a message about
working remotely 0.869), as high as to the messages about it, so it would take what the user never
meant. What was derived from it: the
facts extracted from a forgotten message and the messages a forgotten fact was extracted from, when
they share the subject (extraction reads messages in batches and credits every message of the batch,
so a bare source link would also take the coffee shop mentioned two messages later).

:class:`Forgettable` then tells, sentence by sentence, which text outside the memory store (the
thread's recent turns, its rolling summary) still says it, so callers can rewrite that text
without it. The rules are deterministic on purpose: a user must be able to predict what "forget"
takes, and what it leaves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from memory.lexical import analyzers, lemmas
from memory.models import Memory, MemoryKind
from memory.store import MemoryStore
from memory.text import clean_text

# Words that say nothing about the subject of a request or of a memory ("what I said about",
# "the user"): a shared one links nothing.
_GENERIC = frozenset(
    {
        "пользователь",
        "собеседник",
        "говорить",
        "сказать",
        "рассказывать",
        "рассказать",
        "писать",
        "написать",
        "упоминать",
        "всё",
        "весь",
        "это",
        "user",
        "said",
        "say",
        "told",
        "tell",
        "mention",
        "wrote",
        "write",
        "thing",
        "stuff",
    }
)
# A shared word links a fact and its source message only if it names a thing (a noun, a name, a
# word pymorphy does not know, a number), not a verb or an adjective every message has.
_SUBJECT_POS = {"NOUN", None}
_NAME_TAGS = ("Name", "Surn", "Patr")
_PLACE_TAGS = ("Geox", "Orgn")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")
_WORD = re.compile(r"[а-яёА-ЯЁ]+|[a-zA-Z]+(?:'[a-z]+)?|\d+")


def subject_lemmas(text: str) -> set[str]:
    """The lemmas of ``text`` that can name a subject (generic request words dropped)."""
    return {lemma for lemma in lemmas(text) if lemma not in _GENERIC and len(lemma) > 1}


def _thing_lemmas(text: str) -> set[str]:
    """Lemmas that name things: nouns, names, unknown words, numbers (not verbs or adjectives)."""
    morph, _ = analyzers()
    out = set()
    for lemma in subject_lemmas(text):
        russian = "а" <= lemma[0] <= "я" or lemma[0] == "ё"
        if russian and morph.parse(lemma)[0].tag.POS not in _SUBJECT_POS:
            continue
        out.add(lemma)
    return out


def names_beside(text: str, words: set[str]) -> set[str]:
    """Names that ``text`` gives right beside one of ``words`` («кот Бублик», «Бублик, мой кот»,
    "my ex Tom"): a capitalised word inside a sentence or a known first name, as a lemma. Places and
    organisations are left out: the café on the Arbat is not the cat that lives near it."""
    morph, _ = analyzers()
    tokens = [(m.group(), m.start()) for m in _WORD.finditer(text)]
    sequence: list[tuple[str, str, int]] = []  # (lemma, original word, offset), stop words dropped
    for word, start in tokens:
        for lemma in subject_lemmas(word):
            sequence.append((lemma, word, start))
    out = set()
    for i, (lemma, _word, _start) in enumerate(sequence):
        if lemma not in words:
            continue
        for j in (i - 1, i + 1):
            if (
                0 <= j < len(sequence)
                and sequence[j][0] not in words
                and _is_name(morph, *sequence[j][1:], text)
            ):
                out.add(sequence[j][0])
    return out


def _is_name(morph: object, word: str, start: int, text: str) -> bool:
    before = text[:start].rstrip()
    capitalised = word[:1].isupper() and bool(before) and before[-1] not in ".!?…"
    if "а" <= word[:1].lower() <= "я" or word[:1].lower() == "ё":
        tag = str(morph.parse(word.lower())[0].tag)  # type: ignore[attr-defined]
        if any(t in tag for t in _PLACE_TAGS) and not any(t in tag for t in _NAME_TAGS):
            return False
        return capitalised or any(t in tag for t in _NAME_TAGS)
    return capitalised


@dataclass(frozen=True)
class Forgettable:
    """What to forget: the memories, the user's messages they came from, and the words that mark
    a sentence as still saying it."""

    memories: tuple[Memory, ...] = ()
    terms: frozenset[str] = frozenset()  # lemmas: a sentence with one of them goes
    statements: tuple[frozenset[str], ...] = ()  # each memory's thing-lemmas: a sentence restating one goes
    message_ids: frozenset[str] = frozenset()
    whole: frozenset[str] = frozenset()  # ids the user picked themselves: deleted whole, never trimmed

    @property
    def empty(self) -> bool:
        return not self.memories

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.memories]

    def mentions(self, sentence: str) -> bool:
        """Does this sentence still say what is forgotten?"""
        words = subject_lemmas(sentence)
        if words & self.terms:
            return True
        return any(len(s) >= 2 and len(words & s) >= max(2, (len(s) + 1) // 2) for s in self.statements)

    def scrub(self, text: str) -> str:
        """``text`` without the sentences that say what is forgotten ("" when nothing is left)."""
        kept = [s for s in split_sentences(text) if not self.mentions(s)]
        return " ".join(kept).strip()


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


@dataclass
class ForgetReport:
    deleted: list[str] = field(default_factory=list)  # memory ids removed whole
    rewritten: list[str] = field(default_factory=list)  # episodes kept without the forgotten sentences


def about(store: MemoryStore, user_id: str, topic: str) -> Forgettable:
    """Every memory of the user that states ``topic``, and what was derived from them. A blank
    topic raises :class:`memory.text.EmptyTextError` (a ValueError): it would match nothing, or
    everything, by accident."""
    topic = clean_text(topic)
    words = subject_lemmas(topic)
    memories = store.list(user_id, include_invalid=True)
    if not memories or not words:
        return Forgettable()
    direct = {m.id for m in memories if subject_lemmas(m.text) & words}
    names: set[str] = set()
    for m in memories:
        if m.id in direct:
            names |= names_beside(m.text, words)
    if names:  # «Бублик опять разбил вазу»: about the cat, though it never says so
        direct |= {m.id for m in memories if subject_lemmas(m.text) & names}
    return _close(memories, direct, terms=words | names)


def around(store: MemoryStore, user_id: str, memory_ids: Iterable[str]) -> Forgettable:
    """One memory the user chose to delete (``/memory``'s button), with every source that states
    it and what was derived from it."""
    memories = store.list(user_id, include_invalid=True)
    known = {m.id for m in memories}
    chosen = {i for i in memory_ids if i in known}
    if not chosen:
        return Forgettable()
    return _close(memories, chosen, terms=set(), whole=chosen)


def _close(
    memories: Sequence[Memory], chosen: set[str], terms: set[str], whole: set[str] | None = None
) -> Forgettable:
    """``chosen`` grown by source links that share its subject."""
    whole = set(whole or ())
    chosen = set(chosen)
    by_id = {m.id: m for m in memories}
    things = {m.id: _thing_lemmas(m.text) for m in memories}
    by_message: dict[str, list[Memory]] = {}
    for m in memories:
        for sid in m.source_message_ids:
            by_message.setdefault(sid, []).append(m)
    grown = True
    while grown:  # a fact's sources and a message's facts, as long as they share a thing
        grown = False
        for mid in list(chosen):
            for sid in by_id[mid].source_message_ids:
                for other in by_message.get(sid, []):
                    if other.id not in chosen and things[other.id] & things[mid]:
                        chosen.add(other.id)
                        grown = True
    forgotten = sorted((by_id[i] for i in chosen), key=lambda m: m.created_at, reverse=True)
    return Forgettable(
        memories=tuple(forgotten),
        terms=frozenset(terms),
        statements=tuple(frozenset(things[m.id]) for m in forgotten if m.kind is MemoryKind.FACT),
        message_ids=frozenset(sid for m in forgotten for sid in m.source_message_ids),
        whole=frozenset(whole),
    )


def forget(store: MemoryStore, user_id: str, what: Forgettable) -> ForgetReport:
    """Delete what states the subject. An episode that also says other things keeps them: it is
    rewritten without the sentences that mention the subject (and embedded again), so forgetting the
    cat does not take the job mentioned in the same message."""
    report = ForgetReport()
    for memory in what.memories:
        trim = memory.kind is MemoryKind.EPISODE and memory.id not in what.whole
        rest = what.scrub(memory.text) if trim else ""
        if rest and rest != memory.text:
            store.rewrite_episode(user_id, memory.id, rest)
            report.rewritten.append(memory.id)
        elif store.delete(user_id, memory.id):
            report.deleted.append(memory.id)
    store.compact([*report.deleted, *report.rewritten])
    return report
