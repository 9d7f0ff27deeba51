"""The reader step: what the recalled memories say for a question, picked out before the reply
(agent.memory_reader), kept only when drawn from what the user said, and placed last in the note."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from agent.memory_reader import accepted, reader_messages
from agent.recall import ANSWER_CUE, Recalled, memory_block
from agent.safety.text import lemma
from dora.config import Settings
from dora.wiring.agent import open_companion
from dora.wiring.memory import build_memory
from memory.embeddings import E5Embeddings
from testkit.fake_chat import scripted

CAT = Recalled(
    id="e1",
    kind="episode",
    line="- 3 декабря собеседник написал тебе: «мой бублик опять скинул кружку со стола, котяра невыносимый»",
    why="",
    said="мой бублик опять скинул кружку со стола, котяра невыносимый",
    when="3 декабря",
    at="2026-12-03T10:00:00+00:00",
)
CITY = Recalled(id="f1", kind="fact", line="- Собеседник живёт в Казани (2 декабря)", why="")


def root(word: str) -> str:
    return lemma(word.lower())[0]


def test_a_name_the_user_said_is_kept_in_any_case_and_form() -> None:
    assert accepted("Бублик", [CAT], root) == "Бублик"
    assert accepted("Кот — Бублик.\n", [CAT], root) == "Кот — Бублик"
    assert accepted("Ответ: «Бублика»", [CAT], root) == "Бублика"
    assert accepted("город Казань", [CAT, CITY], root) == "город Казань"


def test_a_name_or_number_the_user_never_said_is_dropped() -> None:
    assert accepted("Кот — Барсик", [CAT], root) == ""
    assert accepted("Бублику 3 года", [CAT], root) == ""  # no age was told
    assert accepted("котик очень пушистый и ласковый", [CAT], root) == ""  # mostly words never said


def test_nothing_needed_empty_or_a_paragraph_gives_no_line() -> None:
    assert accepted("нет", [CAT], root) == ""
    assert accepted("None.", [CAT], root) == ""
    assert accepted("   \n ", [CAT], root) == ""
    assert accepted("бублик " * 40, [CAT], root) == ""


def test_the_reader_sees_worked_examples_then_the_users_own_words_and_the_new_message() -> None:
    messages = reader_messages([CAT, CITY], "как зовут моего кота?", "ru")
    assert isinstance(messages[0], SystemMessage) and "Одной короткой строкой" in str(messages[0].content)
    assert [type(m).__name__ for m in messages[1:-1]] == ["HumanMessage", "AIMessage"] * 3
    last = str(messages[-1].content)
    assert "- мой бублик опять скинул кружку" in last  # the words, without the date frame
    assert "- Собеседник живёт в Казани (2 декабря)" in last
    assert last.endswith("«как зовут моего кота?»")
    # the examples are the same for every call: the prefix llama.cpp keeps
    assert messages[:-1] == reader_messages([CITY], "где я живу?", "ru")[:-1]


def test_what_was_found_is_the_notes_last_line() -> None:
    note = memory_block([CITY], "ru", "как зовут моего кота?", remembered=True, found="кот Бублик")
    assert note.splitlines()[-1] == ANSWER_CUE["ru"].format(found="кот Бублик")
    assert "кот Бублик" not in memory_block([CITY], "ru", "как зовут моего кота?", remembered=True)


class Script:
    """The fake model: the reader's answer for reader prompts, a fixed reply otherwise; every
    chat prompt recorded, and how many reader calls came."""

    def __init__(self, reader_says: str) -> None:
        self.reader_says = reader_says
        self.reader_calls = 0
        self.prompts: list[list[BaseMessage]] = []

    def __call__(self, tool: str, messages: list[BaseMessage]) -> Any:
        if tool == "ExtractedFacts":
            return {"facts": []}
        if tool == "ReconcileDecision":
            return {"action": "ADD"}
        first = str(messages[0].content)
        if first.startswith("Ты выписываешь"):
            self.reader_calls += 1
            return self.reader_says
        if "краткое содержание" in first:
            return "Собеседник рассказывал о своей неделе."
        self.prompts.append(messages)
        return "Конечно помню!"


def conversation(settings: Settings, embeddings: E5Embeddings, script: Script) -> list[BaseMessage]:
    """Tell about the cat, talk it out of the recent window, ask a request that needs its name:
    the last chat prompt."""
    model = scripted(script)

    async def go() -> None:
        async with open_companion(
            settings, memory=build_memory(settings, embeddings), llm_for=lambda role: model
        ) as c:
            told = "мой бублик опять скинул кружку со стола, котяра невыносимый"
            small_talk = [f"Сегодня на работе был длинный созвон номер {n}, про отчёт." for n in range(6)]
            for text in [told, *small_talk]:
                async for _ in c.turn("u1", "dora", text):
                    pass
            await c.background.drain()
            async for _ in c.turn("u1", "dora", "хочу заказать коту миску с гравировкой, помоги с надписью"):
                pass

    asyncio.run(go())
    return script.prompts[-1]


def _notes(prompt: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in prompt if isinstance(m, SystemMessage))


def test_the_readers_answer_reaches_the_reply_prompt(tmp_path: Path, embeddings: E5Embeddings) -> None:
    script = Script("Бублик")
    prompt = conversation(
        Settings(data_dir=tmp_path / "data", history_token_budget=120, memory_reader=True), embeddings, script
    )
    assert script.reader_calls == 1  # the request only: the telling and the small talk ask nothing
    assert ANSWER_CUE["ru"].format(found="Бублик") in _notes(prompt)


def test_an_invented_answer_and_a_switched_off_reader_leave_the_prompt_as_before(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    invented = Script("Барсик")
    prompt = conversation(
        Settings(data_dir=tmp_path / "a", history_token_budget=120, memory_reader=True), embeddings, invented
    )
    assert invented.reader_calls == 1 and "Барсик" not in _notes(prompt)
    off = Script("Бублик")
    prompt = conversation(
        Settings(data_dir=tmp_path / "b", history_token_budget=120, memory_reader=False), embeddings, off
    )
    assert off.reader_calls == 0 and "для ответа нужно" not in _notes(prompt)


def test_the_reader_is_on_for_in_process_models_and_off_for_a_server_unless_set() -> None:
    assert Settings(llm="local").reads_memories and Settings(llm="transformers").reads_memories
    assert not Settings(llm="openai").reads_memories
    assert Settings(llm="openai", memory_reader=True).reads_memories
    assert not Settings(llm="local", memory_reader=False).reads_memories
