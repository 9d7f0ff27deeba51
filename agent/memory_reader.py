"""What the remembered messages say for this one, read out by a short deterministic step first.

Asked «что написать на миске коту? ты же помнишь как его зовут» with «мой бублик опять скинул
кружку» among its earlier turns, the embedded 1.5B model writes a template («Привет, [имя]!») or a
generic answer: finding the name and writing the card at once is two jobs. Picking the name out of
a few lines is one job it does well at temperature 0, so that step runs first, on its own, and its
answer («кот — Бублик») goes into the note after the user's message as what to say.

Only for a question about the user's own life or a request that needs it (the same tests as the
note's last line, :mod:`agent.recall`), and only when something was recalled. What the step writes
is kept only when it is short and drawn from the recalled lines (every name and number in it, by
lemma for Russian), so a name the model made up never reaches the reply. The step has its own
model role, ``reader`` (temperature 0, one line), so it evicts no reply's cached prompt.

The lines are read in the order they were said, with the rule that the last word on a subject is
the true one and a worked example of a change: in recall's order the reader named the old value
of 5 of the 8 changed facts of a development set (``tests/fixtures/dialogue_dev2.json``), in this
order 3 (README, issue 18).

A fact learned from a message that is among the lines is left out: the user's words say it already,
and the embedded model's facts are often wrong («чизкейк правда был огонь» became «не любит
чизкейк»). The worked examples carry a distractor each (a colleague beside the dog, a sister's city
beside the user's, a mother-in-law beside the mother in a request for a card, a dish liked beside a
herb hated), and the "nothing needed" example names nothing a question could ask for: the model
copied «киви» from it when asked about an allergy. With these, the reader picked the right thing for
24 of the development set's 29 told Russian asks, against 17 (``tests/fixtures/dialogue_dev2.json``,
the reader alone, the same told users); without the card example 23, and it wrote a card itself
(«мама Степановна, спасибо за…») where it now writes «мама Людмила Степановна».
"""

from __future__ import annotations

import re
from collections.abc import Callable

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage

from agent.language import Language
from agent.memory_view import names_the_user
from agent.recall import Recalled

__all__ = ["accepted", "reader_messages"]

_INSTRUCTION: dict[Language, str] = {
    "ru": (
        "Ты выписываешь из того, что человек рассказывал раньше, то, что нужно для ответа на его новое "
        "сообщение: имя, место, дату, занятие, что ему нельзя. Одной короткой строкой, его словами. "
        "Строки идут в том порядке, в каком он их писал: если что-то поменялось, верно последнее. "
        "Если ничего не нужно, пиши: нет."
    ),
    "en": (
        "You write out, from what a person told before, what their new message needs: a name, a place, "
        "a date, a job, what they must avoid. One short line, in their words. The lines are in the order "
        "they were written: if something changed, the last one is true. If nothing is needed, write: none."
    ),
}
# worked examples, made up (none from any evaluation set): a 1.5B model answered "none" or a stray
# word to the bare instruction where the answer was a name in plain sight; each has a distractor
_EXAMPLES: dict[Language, tuple[tuple[tuple[str, ...], str, str], ...]] = {
    "ru": (
        (
            (
                "с Колей из отдела продаж весь вечер спорили про футбол",
                "у нас дома живёт такса Ириска, обожает морковку",
            ),
            "что написать на тортике для собаки?",
            "такса Ириска",
        ),
        (
            ("переехала в Тверь в прошлом месяце", "сестра Оля зовёт к себе в Казань, но мне и тут хорошо"),
            "куда сходить в выходные у меня в городе?",
            "живёт в Твери",
        ),
        (
            (
                "ездили к свекрови, Валентина Ивановна опять пирогов напекла",
                "а мама моя, Ольга Петровна, звонила, зовёт на дачу",
            ),
            "напиши поздравление с днём рождения моей маме, по имени-отчеству",
            "мама Ольга Петровна",
        ),
        (
            (
                "в новом кафе всё было вкусно, особенно блинчики",
                "только укроп сыплют во всё, а я его терпеть не могу",
            ),
            "что попросить не класть мне в салат?",
            "укроп",
        ),
        (
            (
                "работаю официанткой в кафе у вокзала",
                "всё, ушла из кафе, теперь я администратор в фитнес-клубе",
            ),
            "где я сейчас работаю?",
            "администратор в фитнес-клубе",
        ),
        (("сегодня весь день лил дождь",), "как прошёл твой день?", "нет"),
    ),
    "en": (
        (
            (
                "argued about football with Tom from sales all evening",
                "my parrot kiwi learned to whistle the simpsons theme",
            ),
            "write a short poem for my bird",
            "parrot Kiwi",
        ),
        (
            ("moved to leeds last spring", "my sister keeps asking me to move to york, but i like it here"),
            "what could i do near home this sunday?",
            "lives in Leeds",
        ),
        (
            (
                "the new cafe was great, loved the pancakes",
                "but they put dill in everything and i can't stand it",
            ),
            "what should i ask them to leave out of my salad?",
            "dill",
        ),
        (
            ("i wait tables at a diner by the station", "quit the diner! i'm a receptionist at a gym now"),
            "where do i work these days?",
            "receptionist at a gym",
        ),
        (("it rained all day today",), "how was your day?", "none"),
    ),
}
_TOLD: dict[Language, str] = {"ru": "Рассказывал раньше:", "en": "Told before:"}
_NEW: dict[Language, str] = {"ru": "Новое сообщение:", "en": "New message:"}
_NOTHING = re.compile(r"^\W*(?:нет|ничего|none|nothing|no)\W*$", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_LABEL = re.compile(r"^\s*(?:ответ|answer|нужно|needed)\s*:\s*", re.IGNORECASE)
_MAX_CHARS = 120


def reader_messages(lines: list[Recalled], message: str, lang: Language) -> list[AnyMessage]:
    """The reader's prompt: its instruction and worked examples (a prefix llama.cpp keeps from call to
    call), then the recalled lines (the user's words as said) and the message."""
    said = {sid for r in lines if r.said for sid in r.sources}
    # a fact whose message is here adds nothing the user's words don't say, and is often wrong
    lines = [r for r in lines if r.said or not set(r.sources) & said]
    in_order = sorted(lines, key=lambda r: r.at or "")  # as said: the newest word on a subject last
    told = [r.said if r.said else r.line.removeprefix("- ") for r in in_order]
    messages: list[AnyMessage] = [SystemMessage(content=_INSTRUCTION.get(lang, _INSTRUCTION["ru"]))]
    for example_told, example_message, answer in _EXAMPLES.get(lang, _EXAMPLES["ru"]):
        messages += [
            HumanMessage(content=_ask(list(example_told), example_message, lang)),
            AIMessage(content=answer),
        ]
    return [*messages, HumanMessage(content=_ask(told, message, lang))]


def _ask(told: list[str], message: str, lang: Language) -> str:
    lines = "\n".join(f"- {t}" for t in told)
    return f"{_TOLD.get(lang, _TOLD['ru'])}\n{lines}\n{_NEW.get(lang, _NEW['ru'])} «{message}»"


def accepted(answer: str, lines: list[Recalled], root: Callable[[str], str]) -> str:
    """The reader's answer if it is one short line drawn from the recalled lines (compared by
    ``root``: a lemma, lower-cased): every name or number in it was said, and at least half of its
    other words; "" otherwise (nothing needed, too long, or a name the user never said: a model's
    invention must not become the reply's fact)."""
    first = next((part.strip() for part in answer.strip().splitlines() if part.strip()), "")
    first = _LABEL.sub("", first).strip().strip("«»\"'").rstrip(".").strip()
    if not first or _NOTHING.match(first) or len(first) > _MAX_CHARS:
        return ""
    known = {root(w) for r in lines for w in _WORD.findall(r.said or r.line)}
    words = [w for w in _WORD.findall(first) if len(w) > 2 or w.isdigit()]
    if all(names_the_user(w) for w in words):  # «собеседник»: the fact lines' word, not the user's
        return ""
    # a capital at the line's start is grammar, not a name («Кот — Бублик»)
    names = [w for i, w in enumerate(words) if w.isdigit() or (i > 0 and w[0].isupper())]
    said = sum(root(w) in known for w in words)
    if not words or any(root(w) not in known for w in names) or said * 2 < len(words):
        return ""
    return first
