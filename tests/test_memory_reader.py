"""The reader step: what the recalled memories say for a question, picked out before the reply
(agent.memory_reader), kept only when drawn from what the user said, and placed last in the note."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from agent.language import Language
from agent.memory_reader import accepted, reader_messages
from agent.recall import ANSWER_CUE, Recalled, memory_block
from agent.reply_lead import reply_lead, to_user
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


def test_the_prompts_own_name_for_the_user_is_not_an_answer() -> None:
    fact = Recalled(id="f2", kind="fact", line="- Собеседник учится на ветеринара (2 декабря)", why="")
    assert accepted("собеседник", [fact], root) == ""
    assert accepted("учится на ветеринара", [fact], root) == "учится на ветеринара"


def test_the_reader_sees_worked_examples_then_the_users_own_words_and_the_new_message() -> None:
    messages = reader_messages([CAT, CITY], "как зовут моего кота?", "ru")
    assert isinstance(messages[0], SystemMessage) and "Одной короткой строкой" in str(messages[0].content)
    assert [type(m).__name__ for m in messages[1:-1]] == ["HumanMessage", "AIMessage"] * 6
    last = str(messages[-1].content)
    assert "- мой бублик опять скинул кружку" in last  # the words, without the date frame
    assert "- Собеседник живёт в Казани (2 декабря)" in last
    assert last.endswith("«как зовут моего кота?»")
    # the examples are the same for every call: the prefix llama.cpp keeps
    assert messages[:-1] == reader_messages([CITY], "где я живу?", "ru")[:-1]


def test_the_reader_reads_the_lines_in_the_order_they_were_said_newest_last() -> None:
    """Told «работаю в кофейне», then «ушла, теперь в книжном», the reader named the coffee shop
    (the line recall ranked first): in the order said, with the rule that the last word wins, the
    new job is the last line it reads."""

    def said(text: str, at: str) -> Recalled:
        return Recalled(id=at, kind="episode", line="", why="", said=text, at=at)

    old = said("работаю бариста в кофейне", "2026-11-01T10:00")
    new = said("ушла из кофейни, теперь в книжном", "2026-12-01T10:00")
    last = str(reader_messages([new, old], "где я сейчас работаю?", "ru")[-1].content)
    assert last.index("работаю бариста") < last.index("теперь в книжном")
    assert "верно последнее" in str(reader_messages([new], "?", "ru")[0].content)


def test_a_fact_is_left_out_when_the_message_it_came_from_is_there() -> None:
    """The extractor read «чизкейк правда был огонь» as «Собеседник не любит чизкейк»: next to the
    user's own words such a fact says nothing new, and a wrong one misleads the reader. A fact whose
    message was not recalled stays (it may be all there is)."""
    message = Recalled(
        id="e1", kind="episode", line="", why="", said="чизкейк правда был огонь", at="1", sources=("m1",)
    )
    from_it = Recalled(
        id="f1", kind="fact", line="- Собеседник не любит чизкейк", why="", at="2", sources=("m1",)
    )
    other = Recalled(
        id="f2", kind="fact", line="- Собеседник живёт в Казани", why="", at="3", sources=("m9",)
    )
    last = str(reader_messages([message, from_it, other], "что я не люблю?", "ru")[-1].content)
    assert "- чизкейк правда был огонь" in last
    assert "не любит чизкейк" not in last
    assert "- Собеседник живёт в Казани" in last


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


def conversation(
    settings: Settings,
    embeddings: E5Embeddings,
    script: Script,
    ask: str = "хочу заказать коту миску с гравировкой, помоги с надписью",
    replies: list[str] | None = None,
) -> list[BaseMessage]:
    """Tell about the cat, talk it out of the recent window, then ``ask`` (by default a request that
    needs its name): the last chat prompt; the ask's reply goes into ``replies``."""
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
            async for event in c.turn("u1", "dora", ask):
                if event.kind == "reply" and replies is not None:
                    replies.append(event.text)

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


def test_what_the_reader_found_is_said_to_the_user() -> None:
    assert to_user("работаю в книжном", "ru") == "ты работаешь в книжном"
    assert to_user("сейчас работаю в книжном", "ru") == "сейчас работаешь в книжном"
    assert to_user("моя такса Шпрота", "ru") == "твоя такса Шпрота"
    assert to_user("живёт в Твери", "ru") == "ты живёшь в Твери"  # no subject: the user is the one
    assert to_user("сестра Аня любит вязать", "ru") == "сестра Аня любит вязать"  # her verb stays hers
    assert to_user("переехала в Казань в мае", "ru") == "переехала в Казань в мае"
    assert to_user("my sister Ann", "en") == "your sister Ann"
    assert to_user("lives in Leeds", "en") == "you live in Leeds"
    assert to_user("I'm allergic to shrimp", "en") == "you're allergic to shrimp"
    # a line naming the user goes as /memory puts a fact, whatever word the reader copied for them
    assert to_user("Собеседник учится на ветеринара", "ru") == "ты учишься на ветеринара"
    assert to_user("Sobesednik quit bakery", "en") == "you quit bakery"


def test_a_question_about_the_users_life_gets_a_lead_and_a_request_or_nothing_found_does_not() -> None:
    def lead(found: str, message: str, lang: Language = "ru") -> str:
        frame, _, said = reply_lead(found, message, lang).partition(": ")
        assert frame in ("Конечно, помню", "Помню, конечно", "Of course I remember", "I remember")
        return said

    assert lead("кот Бублик.", "как зовут моего кота?") == "кот Бублик"
    assert lead("работаю в книжном", "где я сейчас работаю?") == "ты работаешь в книжном"
    assert lead("Казани", "где я живу?") == "Казань"  # the user's case made the nominative
    assert lead("книжном магазине", "где я сейчас работаю?") == "книжный магазин"
    assert lead("свитер для мамы", "что я вяжу?") == "свитер для мамы"  # only the leading words
    assert lead("скалодром", "куда я хожу по вечерам?") == "скалодром"  # a word it only guesses at
    assert lead("lives in Leeds", "where do I live now?", "en") == "you live in Leeds"
    assert lead("Собеседник учится на ветеринара", "на кого я учусь?") == "ты учишься на ветеринара"
    assert reply_lead("кот Бублик", "помоги придумать надпись на миску моему коту", "ru") == ""
    assert reply_lead("", "как зовут моего кота?", "ru") == ""
    # the same message, the same words: a reply asked again starts alike
    assert reply_lead("Казани", "где я живу?", "ru") == reply_lead("Казани", "где я живу?", "ru")


def test_a_request_for_someone_the_user_named_starts_by_saying_whom_it_is_for() -> None:
    thanks = "составь сообщение в рабочий чат с благодарностью коллеге, которая выручила меня"
    assert reply_lead("Эльвира из аналитики", thanks, "ru") == "Конечно! Вот вариант для Эльвиры:"
    assert reply_lead("эльвира помогла", thanks, "ru") == "Конечно! Вот вариант для Эльвиры:"
    card = "write a short birthday message for my husband, use his name"
    assert reply_lead("husband Kwame", card, "en") == "Sure! Here's one for Kwame:"
    # no name in the found line, or a lower-case word that is only rarely a name: no lead
    assert reply_lead("сомелье в винном баре", "напиши мне био про мою работу", "ru") == ""
    assert reply_lead("вера в себя", "напиши мне мотивацию на день про мою работу", "ru") == ""


def test_the_reply_starts_with_what_was_found_when_leads_are_on(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    """The prompt ends with the reply's first words; the model (a fake that continues a started
    reply, as llama.cpp does) writes on from them, and the user gets both."""
    replies: list[str] = []
    script = Script("кот Бублик")
    settings = Settings(
        data_dir=tmp_path / "a", history_token_budget=120, memory_reader=True, reply_lead=True
    )
    prompt = conversation(settings, embeddings, script, ask="как зовут моего кота?", replies=replies)
    lead = reply_lead("кот Бублик", "как зовут моего кота?", "ru")
    assert lead.endswith(": кот Бублик")
    assert isinstance(prompt[-1], AIMessage) and prompt[-1].content == lead
    assert replies[-1] == f"{lead} Конечно помню!"
    off: list[str] = []
    settings = Settings(
        data_dir=tmp_path / "b", history_token_budget=120, memory_reader=True, reply_lead=False
    )
    prompt = conversation(
        settings, embeddings, Script("кот Бублик"), ask="как зовут моего кота?", replies=off
    )
    assert not isinstance(prompt[-1], AIMessage) and off[-1] == "Конечно помню!"


def test_leads_are_on_for_the_local_backend_with_the_reader_unless_set() -> None:
    assert Settings(llm="local").leads_replies
    assert not Settings(llm="local", memory_reader=False).leads_replies
    assert not Settings(llm="openai").leads_replies and not Settings(llm="transformers").leads_replies
    assert Settings(llm="openai", reply_lead=True).leads_replies


def test_no_lead_in_a_turn_the_safety_rules_speak_in(tmp_path: Path, embeddings: E5Embeddings) -> None:
    """A crisis sign in the same message: the reply's first words are not memory's to set."""
    replies: list[str] = []
    settings = Settings(
        data_dir=tmp_path / "a", history_token_budget=120, memory_reader=True, reply_lead=True
    )
    ask = "помнишь как зовут моего кота? хотя какая разница, мне незачем больше жить"
    prompt = conversation(settings, embeddings, Script("кот Бублик"), ask=ask, replies=replies)
    assert not isinstance(prompt[-1], AIMessage)
    assert not replies[-1].startswith(("Конечно, помню", "Помню, конечно"))
