"""Extraction, grounding, reconciliation and the pending-work loop, with a tool-calling fake LLM."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from memory.extraction import FactExtractor, is_grounded, says_something_about_the_user
from memory.models import MemoryKind
from memory.pipeline import MemoryWriter
from memory.reconcile import Action, Reconciler
from testkit.fake_chat import scripted


def _last_human(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)


def test_grounding_drops_invented_names_numbers_and_words() -> None:
    said = ["Мой кот Бублик опять стащил сосиску, а мне завтра 30 лет"]
    assert is_grounded("У пользователя кот по кличке Бублик", said)
    assert is_grounded("Пользователю завтра исполнится 30 лет", said)
    assert not is_grounded("У пользователя кот по кличке Барсик", said)  # invented name
    assert not is_grounded("Пользователю завтра исполнится 31 год", said)  # wrong number
    assert not is_grounded("Пользователь работает врачом в больнице", said)  # nothing of it was said
    assert is_grounded("The user's cat Bublik steals sausages", ["my cat Bublik steals sausages again"])


def test_a_name_is_the_users_only_if_they_said_it_of_themselves() -> None:
    """A colleague and a dog met in the same message were made the user's name by the 1.5B model."""
    colleague = ["весь день с Ирой из бухгалтерии отчёт сводили"]
    assert not is_grounded("Пользователя зовут Ира", colleague)
    assert not is_grounded("Тайсон - это пользователь", ["тайсон это мой стафф, ему 3 года"])
    assert not is_grounded("Собеседника зовут Ира", colleague)
    assert not is_grounded("The user's name is Sarah", ["walked with Sarah to the park"])
    assert is_grounded("Пользователя зовут Ира", ["привет, меня зовут Ира"])
    assert is_grounded("Пользователя зовут Ира", ["я Ира, мне 30"])
    assert is_grounded("The user's name is Sarah", ["hi, I'm Sarah!"])
    assert is_grounded("Пользователь обожает кота Тайсона", ["обожаю своего кота Тайсона"])  # not a name


def test_extractor_keeps_grounded_facts_only() -> None:
    def respond(tool: str, messages: list[BaseMessage]) -> dict[str, Any]:
        assert tool == "ExtractedFacts"
        assert "Бублик" in _last_human(messages)
        return {
            "facts": [
                {"text": "У пользователя кот Бублик", "category": "pets", "importance": 7},
                {"text": "У пользователя кот Бублик", "category": "pets", "importance": 7},  # repeated
                {"text": "Пользователь живёт в Казани", "category": "personal", "importance": 6},  # invented
            ]
        }

    facts = FactExtractor(scripted(respond)).extract(["Мой кот Бублик любит сметану"])
    assert [(f.text, f.category.value, f.importance) for f in facts] == [
        ("У пользователя кот Бублик", "pets", 7)
    ]


def _writer(store, extract: Any, decide: Any = None) -> tuple[MemoryWriter, Any]:
    def respond(tool: str, messages: list[BaseMessage]):
        if tool == "ExtractedFacts":
            return extract(_last_human(messages))
        assert decide is not None, "the reconciler should not have asked the LLM"
        return decide(_last_human(messages))

    llm = scripted(respond)
    return MemoryWriter(store, FactExtractor(llm), Reconciler(store, llm)), llm


def test_add_then_duplicates_are_noop_without_the_llm(store) -> None:
    store.add_episode("u", "Мой кот Бублик любит сметану", message_id="m1")
    writer, llm = _writer(
        store, lambda _: {"facts": [{"text": "У пользователя кот Бублик", "category": "pets"}]}
    )
    report = writer.process_pending("u")
    assert [o.action for o in report.outcomes] == [Action.ADD] and report.episodes == 1
    facts = store.list("u", kind=MemoryKind.FACT)
    assert [f.text for f in facts] == ["У пользователя кот Бублик"] and facts[0].source_message_ids == ["m1"]

    store.add_episode("u", "Кстати, мой кот Бублик снова спит на клавиатуре", message_id="m2")
    calls_before = len(llm.calls)
    report = writer.process_pending("u")
    assert [o.action for o in report.outcomes] == [Action.NOOP]
    assert (
        len(llm.calls) == calls_before + 1
    )  # only the extraction call: the duplicate was settled by similarity
    assert len(store.list("u", kind=MemoryKind.FACT)) == 1


def test_invalidate_and_update_use_numbers_mapped_back_to_ids(store) -> None:
    moscow = store.add_fact("u", "Пользователь живёт в Москве", category="personal")
    job = store.add_fact("u", "Пользователь работает программистом", category="work")
    store.add_episode("u", "Всё, переехала в Тбилиси! И я теперь senior программист", message_id="m9")

    shown: list[str] = []

    def decide(prompt: str) -> dict[str, Any]:
        shown.append(prompt)
        listing = prompt.split("NEW fact:")[0]
        number = {line.split(".")[0]: line for line in listing.splitlines() if line[:1].isdigit()}
        if "Тбилиси" in prompt.split("NEW fact:")[1]:
            target = next(n for n, line in number.items() if "Москве" in line)
            return {"action": "INVALIDATE", "target": int(target)}
        target = next(n for n, line in number.items() if "программистом" in line)
        return {
            "action": "UPDATE",
            "target": int(target),
            "text": "Пользователь работает senior программистом",
        }

    writer, _ = _writer(
        store,
        lambda _: {
            "facts": [
                {"text": "Пользователь переехал в Тбилиси", "category": "personal", "importance": 7},
                {"text": "Пользователь senior программист", "category": "work"},
            ]
        },
        decide,
    )
    report = writer.process_pending("u")
    assert [o.action for o in report.outcomes] == [Action.INVALIDATE, Action.UPDATE]
    assert all(moscow.id not in p and job.id not in p for p in shown)  # the LLM never sees ids
    old = store.get("u", moscow.id)
    new_id = report.outcomes[0].fact_id
    assert old.expired_at is not None and old.invalid_at is not None and old.superseded_by == new_id
    assert store.get("u", job.id).text == "Пользователь работает senior программистом"
    assert store.get("u", job.id).history[0].text == "Пользователь работает программистом"
    valid = {f.text for f in store.list("u", kind=MemoryKind.FACT)}
    assert "Пользователь живёт в Москве" not in valid and "Пользователь переехал в Тбилиси" in valid


def test_an_invented_target_number_falls_back_to_add(store) -> None:
    store.add_fact("u", "Пользователь любит джаз")
    store.add_episode("u", "Обожаю джаз и ещё блюз")
    writer, _ = _writer(
        store,
        lambda _: {"facts": [{"text": "Пользователь любит блюз"}]},
        lambda _: {"action": "UPDATE", "target": 42, "text": "что-то"},
    )
    report = writer.process_pending("u")
    assert [o.action for o in report.outcomes] == [Action.ADD]
    assert {f.text for f in store.list("u", kind=MemoryKind.FACT)} == {
        "Пользователь любит джаз",
        "Пользователь любит блюз",
    }


def test_failed_or_malformed_llm_loses_nothing_and_is_retried(store) -> None:
    episode = store.add_episode("u", "Меня зовут Аня, мне 27")
    answers: list[Any] = [RuntimeError("backend down"), "I am not JSON", {"facts": "oops"}]

    def extract(_: str):
        return answers.pop(0) if answers else {"facts": [{"text": "Пользователя зовут Аня", "importance": 8}]}

    writer, _ = _writer(store, extract)
    for _ in range(3):
        report = writer.process_pending("u")
        assert report.failed and report.episodes == 0
        assert [m.id for m in store.pending_episodes("u")] == [episode.id]
        assert store.get("u", episode.id).text == "Меня зовут Аня, мне 27"
    report = writer.process_pending("u")
    assert not report.failed and report.episodes == 1
    assert store.pending_episodes("u") == []
    assert [f.text for f in store.list("u", kind=MemoryKind.FACT)] == ["Пользователя зовут Аня"]


@pytest.mark.parametrize(
    ("message", "worth"),
    [
        ("Ты психолог?", False),
        ("Привет, Кайли! Как прошёл твой день?", False),
        ("Привет", False),
        ("Как зовут моего кота?", True),  # first person: may still carry a fact ("моего кота")
        ("У меня рыжий кот Бублик.", True),
        ("Do you like jazz?", False),
        ("Do you know my sister Anna?", True),
    ],
)
def test_questions_about_the_persona_are_not_sent_for_extraction(message: str, worth: bool) -> None:
    assert says_something_about_the_user(message) is worth
