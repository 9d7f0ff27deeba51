"""Russian typed in Latin letters («ya bolshe ne mogu»), read back in Cyrillic.

People write translit when the phone has no Russian layout, abroad, or out of habit; a crisis
written that way («tabletki uzhe vypil») means what it means in Cyrillic, but the lexicon's words
are Cyrillic and e5 reads translit poorly: on two new writers' messages the classifier found 12 of
25 translit signs against about nine in ten of those in Cyrillic.

Informal translit has no one scheme: «y» is ы, й or и, «e» is е or э, an apostrophe a soft sign or
nothing, «tsya» is «тся» or «ться». The formal schemes (the ``transliterate`` and ``cyrtranslit``
packages, GOST-like) each got about one word in five wrong on those messages («опыат», «шрами»),
so each Latin word is spelled every way those ambiguities allow (at most :data:`MAX_SPELLINGS`) and
the first spelling pymorphy3 knows as a Russian word wins.

A message is read as translit only when it has a very common Russian word («ya», «ne», «chto»), no
common English one, and most of its longer Latin words have a known Russian spelling: an English
message stays as it is (7 of 2,074 English bank messages passed the last test alone: «most days»).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import product

from memory.lexical import analyzers

MAX_SPELLINGS = 512  # a word with more ambiguous letters keeps its first spelling
MIN_KNOWN_SHARE = 0.6  # of the Latin words of three letters or more, this many spell a Russian word
# the share is judged on a message's first words: 1,300 words of Latin gibberish cost 0.2 s to
# spell every way, and its first 60 tell as well as all of them
DETECT_WORDS = 60

# Longest first: each Latin chunk and the Cyrillic it may stand for, likeliest first.
_CHUNKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shch", ("щ",)), ("tsya", ("тся", "ться")), ("tsa", ("ца", "тся")),
    ("sch", ("щ", "сч")), ("sh", ("ш",)), ("ch", ("ч",)), ("zh", ("ж",)), ("kh", ("х",)),
    ("ts", ("ц", "тс")), ("tz", ("ц",)),
    ("yo", ("ё", "йо")), ("jo", ("ё",)), ("yu", ("ю",)), ("ju", ("ю",)), ("iu", ("ю", "иу")),
    ("ya", ("я", "ыа")), ("ja", ("я",)), ("ia", ("я", "иа")), ("ye", ("е", "ые")), ("je", ("е",)),
    ("a", ("а",)), ("b", ("б",)), ("v", ("в",)), ("w", ("в",)), ("g", ("г",)), ("d", ("д",)),
    ("e", ("е", "э")), ("z", ("з",)), ("i", ("и", "й")), ("y", ("ы", "й", "и")), ("j", ("й",)),
    ("k", ("к",)), ("l", ("л",)), ("m", ("м",)), ("n", ("н",)), ("o", ("о",)), ("p", ("п",)),
    ("r", ("р",)), ("s", ("с",)), ("t", ("т",)), ("u", ("у",)), ("f", ("ф",)), ("h", ("х",)),
    ("c", ("ц", "к")), ("q", ("к",)), ("x", ("кс",)), ("'", ("ь", "", "ъ")), ("’", ("ь", "", "ъ")),
)  # fmt: skip
_CONSONANTS = frozenset("бвгджзклмнпрстфхцчшщ")
_SOFTENED = frozenset("бвдзлмнпрстфчшщж")  # consonants a soft sign may follow
_LATIN_WORD = re.compile(r"[a-z]+(?:['’][a-z]*)*")
# Common English words that are not also common translit («on» is «он», «my» «мы», «so» «со»)
_ENGLISH = frozenset({
    "the", "and", "is", "are", "was", "were", "you", "your", "it", "its", "of", "in", "that", "this",
    "with", "for", "what", "have", "has", "be", "im", "dont", "cant", "can't", "i'm", "don't", "me",
    "just", "like", "but", "not", "his", "her", "they", "we", "at", "all", "about", "get", "got",
    "been", "would", "could", "he", "she", "him", "them", "our", "their", "there", "here", "when",
    "why", "how", "who", "which", "will", "from",
})  # fmt: skip

# Russian words so common that a translit message of a few words nearly always has one; an English
# message whose words happen to spell Russian ones («most», «day», «scared») has none
_RUSSIAN = frozenset({
    "ya", "ja", "ne", "net", "da", "nu", "chto", "cto", "shto", "eto", "eta", "etot", "mne", "menya",
    "mnya", "ty", "tebya", "tebe", "on", "ona", "oni", "my", "vy", "moy", "moi", "moya", "moj", "kak",
    "tak", "uzhe", "uje", "vse", "vsyo", "vsio", "vsem", "prosto", "segodnya", "sejchas", "seychas",
    "schas", "kogda", "esli", "potomu", "pochemu", "ochen", "zhit", "mama", "papa", "muzh", "zhena",
    "opyat", "bolshe", "tozhe", "tolko", "lyublyu", "hochu", "hochetsya", "nado", "mogu", "znayu",
    "dumayu", "bylo", "byl", "byla", "budet", "chtoby", "gde", "tut", "tam", "vot", "zachem", "nichego",
    "nikto", "v", "na", "sebya", "sebe",
})  # fmt: skip

_morph, _ = analyzers()


def _pieces(word: str) -> list[tuple[str, ...]]:
    """The word cut into chunks, each with the Cyrillic it may stand for; a consonant before another
    consonant or at the end may carry a soft sign nobody typed («bolshe», «opyat»)."""
    out, i = [], 0
    while i < len(word):
        for latin, cyrillic in _CHUNKS:
            if word.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            out.append((word[i],))
            i += 1
    for n, options in enumerate(out):
        after = out[n + 1][0] if n + 1 < len(out) else ""
        if options[0] in "тч" and not after:  # «zhit», «noch»: mostly «жить», «ночь»
            out[n] = (options[0] + "ь", *options)
        elif options[0] in _SOFTENED and (not after or after[0] in _CONSONANTS):
            out[n] = (*options, options[0] + "ь")
    return out


@lru_cache(maxsize=50_000)
def spell(word: str) -> tuple[str, bool]:
    """One lower-case Latin word in Cyrillic, and whether that spelling is a known Russian word."""
    pieces = _pieces(word)
    first = "".join(p[0] for p in pieces)
    count = 1
    for p in pieces:
        count *= len(p)
    if count > MAX_SPELLINGS:
        return first, _morph.word_is_known(first)
    for letters in product(*pieces):
        candidate = "".join(letters)
        if _morph.word_is_known(candidate):
            return candidate, True
    return first, False


def to_cyrillic(text: str) -> str | None:
    """``text`` (lower case) with its Latin words in Cyrillic when it reads as Russian translit,
    else None."""
    latin = _LATIN_WORD.findall(text)
    if not latin or any(w in _ENGLISH for w in latin) or not any(w in _RUSSIAN for w in latin):
        return None
    longer = [w for w in latin if len(w) >= 3][:DETECT_WORDS]
    if len(longer) < 2:
        return None
    if sum(spell(w)[1] for w in longer) < MIN_KNOWN_SHARE * len(longer):
        return None
    return _LATIN_WORD.sub(lambda m: spell(m.group())[0], text)
