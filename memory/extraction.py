"""Fact extraction: an LLM proposes facts about the user from a turn; a guard keeps the grounded ones.

The LLM is any LangChain chat model that supports structured output (tool calling, or a JSON
schema on llama.cpp). Small models invent things (on the embedded 1.5B model, one fact in six was
untrue, one with a made-up name), so every candidate must be *grounded*: its names and numbers,
and most of its content words, must occur in the user's own messages, compared as lemmas so that
"кота" in the message grounds "кот" in the fact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field

from memory.lexical import lemmas
from memory.models import Category

EXTRACTION_SYSTEM = """You extract durable facts about the USER from their chat messages to a companion.
Write each fact as one short sentence in the same language as the user's messages, about the user
in the third person ("Пользователя зовут Аня", "У пользователя кот Бублик", "The user works as a nurse").
Only facts the user stated about themselves, their life, people, pets, plans, preferences, health, or
their relationship with the companion. No guesses, no advice, nothing about the companion itself.
Greetings and small talk contain no facts: return an empty list then.
Importance: 1 trivial … 10 life-defining (names of family and pets, health, big life events: 7–9)."""

EXTRACTION_EXAMPLE_USER = (
    "Messages:\n- Мой кот Бублик опять стащил сосиску 😂 а я сегодня наконец сдала экзамен по химии"
)
EXTRACTION_EXAMPLE_FACTS = (
    '[{"text": "У пользователя кот по кличке Бублик", "category": "pets", "importance": 7}, '
    '{"text": "Пользователь сдал(а) экзамен по химии", "category": "events", "importance": 5}]'
)

# words that describe the user or the act of stating, not content to be grounded
_FRAME = {
    "пользователь",
    "пользовательница",
    "user",
    "зовут",
    "звать",
    "имя",
    "называть",
    "который",
    "является",
    "иметь",
    "есть",
    "быть",
    "свой",
    "мой",
    "у",
    "name",
    "call",
    "has",
    "have",
    "is",
    "the",
    "их",
    "его",
    "её",
    "она",
    "он",
    "они",
    "него",
    "нее",
    "кличка",
    "по",
}
_NUMBER = re.compile(r"\d+")
# a fact that gives the user a name («Пользователя зовут Ира», "The user's name is Ira", «Тайсон —
# это пользователь»): the 1.5B model wrote these of a colleague and of a dog met in the same message
# («весь день с Ирой из бухгалтерии…»), and a companion that calls its user by their colleague's
# name has misheard them badly
_NAMES_THE_USER = re.compile(
    r"(?:пользовател|собеседни[кц])\w*\s+(?:зовут|звать|имя)|(?:зовут|имя)\s+(?:пользовател|собеседни[кц])|"
    r"\bэто\s+(?:пользовател|собеседни[кц])|(?:пользовател|собеседни[кц])\w*\s+[—–-]\s+это\b|"
    r"user'?s\s+name|user\s+is\s+(?:called|named)|name\s+of\s+the\s+user",
    re.IGNORECASE,
)
# the user saying who they are: «меня зовут», «я Ира», "my name is", "I'm Ira", "call me"
_SELF_NAMING = re.compile(
    r"меня\s+зовут|мо[её]\s+имя|зови(?:те)?\s+меня|звать\s+меня|my\s+name|call\s+me|\bname'?s\b",
    re.IGNORECASE,
)


class CandidateFact(BaseModel):
    """One fact the LLM proposes."""

    text: str = Field(description="The fact, one short sentence in the user's language, third person.")
    category: Category = Field(Category.OTHER, description="Topic of the fact.")
    importance: int = Field(5, ge=1, le=10, description="1 trivial … 10 life-defining.")


class ExtractedFacts(BaseModel):
    """Facts about the user found in the messages (an empty list when there are none)."""

    facts: list[CandidateFact] = Field(default_factory=list)


_FIRST_PERSON = re.compile(
    r"\b(я|мне|меня|мной|мой|моя|моё|мое|мои|моих|моим|моего|моей|мы|нас|нам|наш|наша|наше|наши|"
    r"i|i'm|im|me|my|mine|we|our|us)\b",
    re.IGNORECASE,
)


def says_something_about_the_user(message: str) -> bool:
    """A cheap pre-filter before the LLM: a question that never speaks in the first person ("Ты
    психолог?", "Как прошёл твой день?") states nothing about the user, and a small model asked for
    facts about it invents some (measured with the 1.5B model: "the user works as a psychologist")."""
    text = message.strip()
    if len(text.split()) < 2:
        return False
    return not (text.endswith("?") and not _FIRST_PERSON.search(text))


def is_grounded(fact: str, messages: Sequence[str], min_share: float = 0.5) -> bool:
    """Names, numbers and most content lemmas of ``fact`` must appear in the user's ``messages``."""
    source_text = " ".join(messages)
    source = set(lemmas(source_text))
    content = [t for t in lemmas(fact) if t not in _FRAME]
    if not content:
        return False
    # numbers must match exactly: a made-up date or age is the worst kind of false memory
    if any(n not in source_text for n in _NUMBER.findall(fact)):
        return False
    # capitalised words inside the fact (names) must be in the messages
    for word in re.findall(r"(?<!^)(?<![.!?]\s)\b([A-ZА-ЯЁ][a-zа-яё]+)", fact):
        lemma = lemmas(word)
        if lemma and lemma[0] not in source and lemma[0] not in _FRAME:
            return False
    grounded = sum(1 for t in content if t in source)
    return grounded / len(content) >= min_share and _user_named_by_themselves(fact, messages)


def _user_named_by_themselves(fact: str, messages: Sequence[str]) -> bool:
    """A fact that names the user stands only if a message names its writer: «меня зовут Ира», or
    the name right after «я» / "I'm" / "this is" («я Ира, мне 30»). Any other fact: True."""
    if not _NAMES_THE_USER.search(fact):
        return True
    source_text = " ".join(messages)
    if _SELF_NAMING.search(source_text):
        return True
    names = set(lemmas(" ".join(re.findall(r"\b[A-ZА-ЯЁ][a-zа-яё]+", fact))))
    introduced = re.findall(r"(?:\bя|\bi'?m|\bi\s+am|\bthis\s+is)\s+[—–-]?\s*([^\W\d_]+)", source_text, re.I)
    return bool(names & set(lemmas(" ".join(introduced))))


Structurer = Callable[[BaseChatModel, type[BaseModel]], Runnable[Any, Any]]
"""How to get structured output from a model: backends differ (a JSON-schema grammar locally, a
forced tool call on OpenAI-compatible servers), and the caller that built the model knows which."""


def _default_structure(llm: BaseChatModel, schema: type[BaseModel]) -> Runnable[Any, Any]:
    return llm.with_structured_output(schema)


class FactExtractor:
    """Asks the LLM for facts in one call and keeps only the grounded ones."""

    def __init__(self, llm: BaseChatModel, structure: Structurer | None = None) -> None:
        self._structured = (structure or _default_structure)(llm, ExtractedFacts)

    def extract(self, messages: Sequence[str]) -> list[CandidateFact]:
        """Grounded candidate facts from the user's ``messages``; raises if the LLM fails (caller retries)."""
        if not messages:
            return []
        prompt = "Messages:\n" + "\n".join(f"- {m}" for m in messages)
        result = self._structured.invoke(
            [
                SystemMessage(EXTRACTION_SYSTEM),
                HumanMessage(EXTRACTION_EXAMPLE_USER),
                SystemMessage(f"Example answer facts: {EXTRACTION_EXAMPLE_FACTS}"),
                HumanMessage(prompt),
            ]
        )
        if not isinstance(result, ExtractedFacts):
            result = ExtractedFacts.model_validate(result)
        seen: set[str] = set()
        kept = []
        for fact in result.facts:
            text = fact.text.strip()
            key = text.casefold()
            if text and key not in seen and is_grounded(text, messages):
                seen.add(key)
                kept.append(fact.model_copy(update={"text": text}))
        return kept
