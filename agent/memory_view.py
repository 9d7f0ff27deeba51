"""What DORA knows, put to the user as a friend would put it: «Ты любишь плавать», not
«Пользователь любит плавать».

Facts are stored in the third person (the extractor writes them about "the user", and the prompt
reads them that way); only what the user sees is turned to the second person, here, with pymorphy3
for Russian agreement (case of the pronoun, person of the verb, gender of «твой»). Past-tense verbs
keep their form: Russian past tense carries gender, not person, and the user's gender is unknown. The
user's own remembered messages are quoted as they wrote them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from agent.language import Language
from memory import forgetting
from memory.lexical import analyzers
from memory.models import Memory, MemoryKind
from memory.store import MemoryStore

_RU_USER = re.compile(r"^(?:пользовател|собеседни[кц])", re.IGNORECASE)
_RU_PRONOUN = {"nomn": "ты", "gent": "тебя", "datv": "тебе", "accs": "тебя", "ablt": "тобой", "loct": "тебе"}
_TOKEN = re.compile(r"\w+|[^\w\s]+|\s+")
_EN_USER = re.compile(r"\b(?:the\s+)?user(?P<poss>'s)?\b", re.IGNORECASE)
_EN_BE = {"is": "are", "was": "were", "has": "have", "does": "do", "doesn't": "don't", "isn't": "aren't"}
_EN_ADVERBS = {"also", "really", "often", "usually", "still", "always", "never", "sometimes", "now"}


@dataclass(frozen=True)
class MemoryLine:
    """One memory as the user sees it in /memory, ``dora memory list`` and a forget preview."""

    id: str
    kind: str  # "fact" | "episode"
    text: str  # already put to the user
    when: datetime
    valid: bool = True  # False: a fact that stopped being true
    replaced_by: str | None = None  # for such a fact: what replaced it, put to the user


def names_the_user(word: str) -> bool:
    """«Пользователь», «собеседница», "user": how facts and the prompt's fact lines name the user."""
    return bool(_RU_USER.match(word)) or word.lower() == "user"


def to_user_ru(text: str) -> str:
    """«Пользователь любит плавать» → «Ты любишь плавать»; «Кот пользователя» → «Твой кот»."""
    morph, _ = analyzers()
    tokens = _TOKEN.findall(text)
    words = [i for i, t in enumerate(tokens) if t[0].isalnum()]
    out = list(tokens)
    for n, i in enumerate(words):
        if not _RU_USER.match(tokens[i]):
            continue
        parse = next(
            (p for p in morph.parse(tokens[i].lower()) if p.normal_form in ("пользователь", "собеседник")),
            None,
        )
        case = parse.tag.case if parse is not None else "nomn"
        prev = words[n - 1] if n > 0 else None
        prev_parse = morph.parse(tokens[prev].lower())[0] if prev is not None else None
        if case == "gent" and prev_parse is not None and prev_parse.tag.POS == "NOUN":
            # «кот пользователя» → «твой кот»: «твой» agrees with the noun, and goes before it
            owned = prev_parse.tag
            number = {"plur"} if owned.number == "plur" else {owned.gender or "masc"}
            form = morph.parse("твой")[0].inflect({owned.case or "nomn"} | number)
            noun = tokens[prev].lower() if prev == words[0] else tokens[prev]
            out[prev] = f"{form.word if form else 'твой'} {noun}"
            out[i] = ""
            if i - 1 >= 0 and tokens[i - 1].isspace():
                out[i - 1] = ""
            continue
        out[i] = _RU_PRONOUN.get(case or "nomn", "ты")
        if case == "nomn":
            for j in words[n + 1 : n + 4]:
                verb = morph.parse(tokens[j].lower())[0]
                if verb.tag.POS == "VERB" and verb.tag.person == "3per" and verb.tag.number == "sing":
                    second = verb.inflect({"2per", "sing"})
                    if second is not None:
                        out[j] = second.word
                    break
                if verb.tag.POS in ("VERB", "NOUN"):
                    break
    return _capitalise("".join(out).replace("  ", " ").strip())


def to_user_en(text: str) -> str:
    """ "The user likes swimming" → "You like swimming"; "User's cat" → "Your cat"."""

    def pronoun(match: re.Match[str]) -> str:
        return "your" if match.group("poss") else "you"

    replaced = _EN_USER.sub(pronoun, text)
    tokens = replaced.split(" ")
    for i, token in enumerate(tokens):
        if token.lower() != "you":
            continue
        j = i + 1
        while j < len(tokens) and tokens[j].lower() in _EN_ADVERBS:
            j += 1
        if j < len(tokens):
            tokens[j] = _base_form(tokens[j])
    return _capitalise(" ".join(tokens))


def _base_form(verb: str) -> str:
    low = verb.lower()
    if low in _EN_BE:
        return _EN_BE[low]
    if len(low) > 3 and low.endswith("ies"):
        return verb[:-3] + "y"
    if low.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    if low.endswith("s") and not low.endswith("ss") and len(low) > 2:
        return verb[:-1]
    return verb


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def to_user(text: str, lang: Language) -> str:
    """A stored fact put to the user, in the fact's own language (facts follow the conversation's)."""
    if re.search(r"[а-яё]", text, re.IGNORECASE):
        return to_user_ru(text)
    return to_user_en(text)


def quoted(text: str, lang: Language, limit: int = 160) -> str:
    short = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return f"«{short}»" if lang == "ru" else f"“{short}”"


def line_for(memory: Memory, lang: Language, replaced_by: Memory | None = None) -> MemoryLine:
    """One memory, put to the user: a fact in the second person, an episode as their own words."""
    if memory.kind is MemoryKind.EPISODE:
        said = "ты писал(а)" if lang == "ru" else "you wrote"
        text = f"{said}: {quoted(memory.text, lang)}"
        return MemoryLine(memory.id, "episode", _capitalise(text), memory.created_at)
    return MemoryLine(
        memory.id,
        "fact",
        to_user(memory.text, lang),
        memory.updated_at,
        memory.is_valid,
        to_user(replaced_by.text, lang) if replaced_by is not None else None,
    )


def render(line: MemoryLine, lang: Language) -> str:
    """A line for a list: the date, the memory, and for a fact no longer true what replaced it."""
    day = f"{line.when:%d.%m.%Y}"
    if line.valid:
        return f"{day} · {line.text}"
    was = "было" if lang == "ru" else "was"
    if line.replaced_by is not None:
        now = "теперь" if lang == "ru" else "now"
        return f"{day} · {was}: {line.text} → {now}: {line.replaced_by}"
    gone = "уже не так" if lang == "ru" else "no longer true"
    return f"{day} · {was}: {line.text} ({gone})"


def memory_lines(
    store: MemoryStore, user_id: str, lang: Language, query: str | None = None
) -> list[MemoryLine]:
    """What DORA knows about the user, newest first, put to them: facts (those no longer true with
    what replaced them) and their own messages. With ``query``, only what is about it (the same
    match a forget uses, so what is shown is what would go)."""
    everything = store.list(user_id, include_invalid=True)
    shown = list(forgetting.about(store, user_id, query).memories) if query and query.strip() else everything
    by_id = {m.id: m for m in everything}
    lines = [line_for(m, lang, by_id.get(m.superseded_by or "")) for m in shown]
    return sorted(lines, key=lambda line: line.when, reverse=True)
