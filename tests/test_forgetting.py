"""Forget means forget: a subject or one memory goes from memory (with the messages that state it
and the facts drawn from them), from every persona's thread (recent turns, summary, checkpoint
history) and from disk; everything else of the user stays. Real Chroma and SQLite checkpoints;
the LLM is the only fake."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from agent.companion import TurnEvent
from agent.forget_request import parse_forget_request
from agent.memory_view import line_for, render, to_user
from agent.thread_scrub import scrub_state
from dora.config import Settings
from memory import forgetting
from memory.models import MemoryKind
from memory.store import EpisodeIn, FactIn
from memory.text import EmptyTextError
from testkit.fake_chat import scripted
from tests.test_agent import Script, companion_ctx, reply_of, run, talk

CAT = "Мой кот Бублик любит сметану."
JOB = "А ещё я работаю в кофейне на Арбате."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def model(script: Script):
    return scripted(script)


def _texts(memories: Any) -> list[str]:
    return sorted(m.text for m in memories)


# -- memory ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_subject_takes_its_messages_names_and_facts_but_nothing_else(store) -> None:
    user = "f1"
    episodes = store.add_episodes(
        user,
        [
            EpisodeIn(CAT, message_id="m1"),
            EpisodeIn(JOB, message_id="m2"),
            EpisodeIn("Бублик опять разбил вазу, ужас", message_id="m3"),
            EpisodeIn("мой брат Дима приезжает в субботу", message_id="m4"),
            EpisodeIn("Вчера купила котлеты на ужин", message_id="m5"),
        ],
    )
    # extraction credits every message of its batch: the job fact lists the cat's message too
    cat_fact, job_fact, cream_fact = store.add_facts(
        user,
        [
            FactIn("У пользователя кот по кличке Бублик", source_message_ids=["m1", "m2"]),
            FactIn("Пользователь работает в кофейне на Арбате", source_message_ids=["m1", "m2"]),
            FactIn("Пользователь любит сметану", source_message_ids=["m1", "m2"]),
        ],
    )
    what = forgetting.about(store, user, "моего кота")
    assert _texts(what.memories) == sorted(
        [CAT, "Бублик опять разбил вазу, ужас", cat_fact.text, cream_fact.text]
    )
    report = forgetting.forget(store, user, what)
    assert len(report.deleted) == 4 and report.rewritten == []
    left = _texts(store.list(user, include_invalid=True))
    assert left == sorted(
        [JOB, "мой брат Дима приезжает в субботу", "Вчера купила котлеты на ужин", job_fact.text]
    )
    assert not [r for r in store.search(user, "как зовут моего кота", k=10) if "Бублик" in r.memory.text]
    assert forgetting.about(store, user, "кот").empty  # twice in a row: nothing left, nothing else taken
    assert len(store.list(user, include_invalid=True)) == 4
    assert episodes[1].id in {m.id for m in store.list(user)}


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_message_about_two_things_keeps_the_other_one(store) -> None:
    user = "f2"
    (episode,) = store.add_episodes(user, [EpisodeIn(f"{CAT} {JOB}", message_id="m1")])
    before = store.search(user, "кот Бублик сметана", k=1)[0].parts.dense
    report = forgetting.forget(store, user, forgetting.about(store, user, "кот"))
    assert report.rewritten == [episode.id] and report.deleted == []
    kept = store.get(user, episode.id)
    assert kept is not None and kept.text == JOB
    hit = store.search(user, "кот Бублик сметана", k=1)[0]
    assert hit.parts.dense < before and hit.parts.lexical == 0.0  # its vector and words were redone
    assert store.search(user, "где я работаю", k=1)[0].memory.id == episode.id


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_forgotten_memory_leaves_no_bytes_on_disk(store, tmp_path: Path) -> None:
    user = "f3"
    store.add_episodes(user, [EpisodeIn(CAT, message_id="m1"), EpisodeIn(JOB, message_id="m2")])
    cipher = store.keyring.cipher(user)
    idx = store._index(cipher.user_key)
    blob = next(m["enc"] for m, i in zip(idx.metas, idx.ids, strict=True) if store.get(user, i).text == CAT)
    kept = next(m["enc"] for m, i in zip(idx.metas, idx.ids, strict=True) if store.get(user, i).text == JOB)

    def on_disk(needle: str) -> bool:
        raw = needle.encode()
        return any(raw in p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())

    assert on_disk(blob) and on_disk(kept)
    forgetting.forget(store, user, forgetting.about(store, user, "кот"))
    assert not on_disk(blob)
    assert on_disk(kept)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_blank_or_unknown_topics(store) -> None:
    store.add_episodes("f4", [EpisodeIn(CAT, message_id="m1")])
    for blank in ("", "   ", "\n\t"):
        with pytest.raises(EmptyTextError):
            forgetting.about(store, "f4", blank)
    assert forgetting.about(store, "f4", "жираф").empty
    assert forgetting.about(store, "f4", "про").empty  # only a stop word: matches nothing
    assert forgetting.about(store, "nobody", "кот").empty
    assert [m.text for m in store.list("f4")] == [CAT]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_chosen_memory_takes_the_message_that_states_it_but_not_its_batch(store) -> None:
    user = "f5"
    store.add_episodes(user, [EpisodeIn(CAT, message_id="m1"), EpisodeIn(JOB, message_id="m2")])
    (fact,) = store.add_facts(
        user, [FactIn("У пользователя кот по кличке Бублик", source_message_ids=["m1", "m2"])]
    )
    what = forgetting.around(store, user, [fact.id])
    assert _texts(what.memories) == sorted([CAT, fact.text])
    forgetting.forget(store, user, what)
    assert _texts(store.list(user, include_invalid=True)) == [JOB]
    assert forgetting.around(store, user, [fact.id]).empty


# -- the request, and how memories are shown ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("забудь, что я говорил про кота", "кота"),
        ("Забудь про кота", "кота"),
        ("дора, забудь всё что я рассказывала о работе", "работе"),
        ("удали мои сообщения про бывшего", "бывшего"),
        ("забудь о том, что я говорил про сестру", "сестру"),
        ("forget what I said about my ex", "my ex"),
        ("Please forget everything I told you about my job.", "my job"),
    ],
)
def test_requests_to_forget_are_heard(text: str, topic: str) -> None:
    request = parse_forget_request(text)
    assert request is not None and request.topic == topic and not request.everything


@pytest.mark.parametrize(
    "text",
    [
        "не забудь про маму",
        "забудь, я просто устала",
        "я забыла про кота покормить",
        "I forgot my keys",
        "forget it",
        "забудь про меня",  # said in pain as often as for privacy: conversation, heard by the safety rules
        "забудь про кота\nи вообще",
    ],
)
def test_conversation_is_not_a_request_to_forget(text: str) -> None:
    assert parse_forget_request(text) is None


def test_forgetting_everything_points_to_the_command() -> None:
    request = parse_forget_request("забудь обо всём")
    assert request is not None and request.everything


@pytest.mark.parametrize(
    ("fact", "shown"),
    [
        ("Пользователь любит плавать", "Ты любишь плавать"),
        ("Пользователя зовут Маша", "Тебя зовут Маша"),
        ("У пользователя есть кот Бублик", "У тебя есть кот Бублик"),
        ("Кот пользователя любит сметану", "Твой кот любит сметану"),
        ("Сестра пользователя живёт в Питере", "Твоя сестра живёт в Питере"),
        ("Пользователю 20 лет", "Тебе 20 лет"),
        ("Пользователь переехал в Тбилиси", "Ты переехал в Тбилиси"),
        ("The user likes swimming", "You like swimming"),
        ("User's sister lives in London", "Your sister lives in London"),
        ("User often watches films", "You often watch films"),
        ("The user is a nurse", "You are a nurse"),
    ],
)
def test_facts_are_put_to_the_user_as_a_friend_would(fact: str, shown: str) -> None:
    assert to_user(fact, "ru") == shown


def test_a_fact_no_longer_true_shows_what_replaced_it(store) -> None:
    old, new = store.add_facts(
        "f6", [FactIn("Пользователь работает в кофейне"), FactIn("Пользователь работает репетитором")]
    )
    old = store.invalidate_fact("f6", old.id, superseded_by=new.id)
    line = render(line_for(old, "ru", replaced_by=new), "ru")
    assert "было: Ты работаешь в кофейне → теперь: Ты работаешь репетитором" in line
    (episode,) = store.add_episodes("f6", [EpisodeIn(CAT, message_id="m1")])
    assert render(line_for(episode, "en"), "en").endswith(f"You wrote: “{CAT}”")


# -- the companion: threads, summaries, requests, and what is in progress ------------------------


def _thread_texts(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages]


def _checkpoints(settings: Settings) -> dict[str, int]:
    """Checkpoints per persona thread (the user's profile thread holds no text: left out)."""
    with sqlite3.connect(settings.data_dir / "checkpoints.sqlite") as db:
        rows = db.execute("SELECT thread_id, count(*) FROM checkpoints GROUP BY thread_id").fetchall()
    return {tid.rsplit(":", 1)[1]: n for tid, n in rows if not tid.endswith("~profile")}


def test_forgetting_rewrites_every_thread_and_drops_its_history(settings, embeddings, model, script):
    replies = iter(
        [
            "Бублик — чудесное имя! Сметана — его слабость?",
            "Кофейня на Арбате звучит уютно. А Бублик не ревнует к работе?",
            "Марк тут. Как Бублик?",
        ]
    )
    script.chat = lambda m: next(replies)

    async def go() -> tuple[Any, ...]:
        async with companion_ctx(settings, embeddings, model) as c:
            await talk(c, CAT)
            await talk(c, JOB)
            await talk(c, "Привет, Марк", persona="mark")
            await c.drain()
            history_before = _checkpoints(settings)
            result = await c.forget_about("u1", "кот")
            dora, mark = await c.messages("u1", "dora"), await c.messages("u1", "mark")
            exported = await c.export_user("u1")
            return result, history_before, dora, mark, exported

    result, history_before, dora, mark, exported = run(go())
    assert result.threads == 2
    assert _thread_texts(dora) == [JOB, "Кофейня на Арбате звучит уютно."]
    assert _thread_texts(mark) == ["Привет, Марк", "Марк тут."]
    assert history_before["dora"] > 1
    assert _checkpoints(settings) == {"dora": 1, "mark": 1}  # no older copy of a thread is left
    dump = str(exported)
    assert "Бублик" not in dump and "кофейн" in dump


def test_a_request_to_forget_is_shown_confirmed_and_never_stored(settings, embeddings, model, script):
    async def go() -> tuple[Any, ...]:
        async with companion_ctx(settings, embeddings, model) as c:
            await talk(c, CAT)
            await talk(c, JOB)
            await c.drain()
            asked = await talk(c, "забудь, что я говорил про кота")
            kept = await talk(c, "забудь про кота")  # asked again, then declined
            await c.cancel_forget("u1", kept[-1].forget.plan_id)
            declined = await c.forget("u1", kept[-1].forget.plan_id)
            nobody = await c.forget("someone-else", asked[-1].forget.plan_id)
            done = await c.forget("u1", asked[-1].forget.plan_id)
            again = await c.forget("u1", asked[-1].forget.plan_id)
            nothing = await talk(c, "забудь про жирафа")
            texts = _thread_texts(await c.messages("u1", "dora"))
            return asked, declined, nobody, done, again, nothing, texts, c.memory_lines("u1")

    asked, declined, nobody, done, again, nothing, texts, lines = run(go())
    (question,) = asked
    assert question.kind == "forget" and question.forget is not None and question.forget.plan_id
    assert "Бублик" in question.text and "кофейн" not in question.text
    assert declined is None and nobody is None and again is None
    assert done is not None and done.deleted >= 1
    assert nothing[-1].kind == "forget" and nothing[-1].forget.plan_id is None and "жираф" in nothing[-1].text
    assert not any("забудь" in t or "Бублик" in t for t in texts)
    assert [line.text for line in lines] == [f"Ты писал(а): «{JOB}»"]


def test_a_farewell_that_looks_like_a_request_reaches_the_conversation(settings, embeddings, model):
    async def go() -> list[TurnEvent]:
        async with companion_ctx(settings, embeddings, model) as c:
            return await talk(c, "забудь обо мне, я больше не хочу жить")

    events = run(go())
    assert not [e for e in events if e.kind == "forget"]
    assert reply_of(events)


def test_forgetting_waits_for_the_reply_being_written(settings, embeddings, model, script):
    gate = threading.Event()
    started = threading.Event()

    def chat(messages: list[BaseMessage]) -> str:
        last = str(messages[-1].content)
        if "кофейн" in last:
            started.set()
            gate.wait(30)
            return "Кофейня — это здорово."
        return "Бублик прелесть."

    script.chat = chat

    async def go() -> tuple[list[str], list[str]]:
        async with companion_ctx(settings, embeddings, model) as c:
            await talk(c, CAT)
            replying = asyncio.create_task(talk(c, JOB))
            await asyncio.to_thread(started.wait, 30)
            forgetting_task = asyncio.create_task(c.forget_about("u1", "кот"))
            await asyncio.sleep(0.3)
            assert not forgetting_task.done()  # the reply in progress is not cut under it
            gate.set()
            await replying
            await forgetting_task
            return _thread_texts(await c.messages("u1", "dora")), [m.text for m in c.deps.memory.list("u1")]

    texts, memories = run(go())
    assert texts == [JOB, "Кофейня — это здорово."]
    assert memories == [JOB]


def test_a_summary_folded_while_forgetting_is_rewritten_without_it(tmp_path, embeddings, model, script):
    settings = Settings(data_dir=tmp_path / "data", history_token_budget=60)
    script.summary = "Собеседник рассказал, что его кота зовут Бублик. Он работает в кофейне на Арбате."
    folding = threading.Event()
    release = threading.Event()
    original = script.__call__

    def slow_summary(tool: str, messages: list[BaseMessage]) -> Any:
        answer = original(tool, messages)
        if answer == script.summary:
            folding.set()
            release.wait(30)
        return answer

    async def go() -> tuple[str, list[str]]:
        async with companion_ctx(settings, embeddings, scripted(slow_summary)) as c:
            await talk(c, CAT)
            await talk(c, JOB)
            await talk(c, "Сегодня был длинный день, устала ужасно, но всё хорошо.")
            await asyncio.to_thread(folding.wait, 30)
            forgetting_task = asyncio.create_task(c.forget_about("u1", "кот"))
            await asyncio.sleep(0.2)
            release.set()
            await forgetting_task
            values = (await c.graph.aget_state(c._config("u1", "dora"))).values
            return values.get("summary", ""), _thread_texts(values["messages"])

    summary, texts = run(go())
    assert summary == "Он работает в кофейне на Арбате."
    assert not any("Бублик" in t for t in texts)


def test_deleting_from_memory_view_takes_the_sources_too(settings, embeddings, model, script):
    script.facts = lambda m: {
        "facts": [{"text": "У пользователя кот Бублик", "category": "pets", "importance": 6}]
    }

    async def go() -> tuple[list[str], list[str]]:
        async with companion_ctx(settings, embeddings, model) as c:
            await talk(c, CAT)
            await c.drain()
            fact = next(line for line in c.memory_lines("u1") if line.kind == "fact")
            assert fact.text == "У тебя кот Бублик"
            await c.forget_memory("u1", fact.id)
            return [line.text for line in c.memory_lines("u1")], _thread_texts(await c.messages("u1", "dora"))

    lines, texts = run(go())
    assert lines == [] and texts == []


def test_nothing_else_of_the_user_is_lost(settings, embeddings, model, script):
    async def go() -> tuple[Any, ...]:
        async with companion_ctx(settings, embeddings, model) as c:
            await talk(c, CAT)
            await talk(c, JOB)
            await talk(c, CAT, user="u2")
            await c.drain()
            with pytest.raises(EmptyTextError):
                await c.forget_about("u1", "  ")
            none = await c.forget_about("u1", "жираф")
            first = await c.forget_about("u1", "кот")
            second = await c.forget_about("u1", "кот")
            return (
                none,
                first,
                second,
                [m.text for m in c.deps.memory.list("u1", kind=MemoryKind.EPISODE)],
                [m.text for m in c.deps.memory.list("u2", kind=MemoryKind.EPISODE)],
                _thread_texts(await c.messages("u2", "dora")),
                await talk(c, "как дела?"),
            )

    none, first, second, u1, u2, u2_thread, after = run(go())
    assert (none.deleted, second.deleted) == (0, 0) and first.deleted == 1
    assert u1 == [JOB] and u2 == [CAT] and CAT in u2_thread
    assert reply_of(after)


def test_the_thread_state_keeps_no_memory_text_of_the_last_reply() -> None:
    """The memories the last reply was given and what the reader picked out of them are memory text:
    a forgotten thing must not stay in the thread's state through them."""
    values = {
        "messages": [],
        "summary": "",
        "recalled": [{"id": "e1", "kind": "episode", "line": "- «мой кот Бублик»", "why": ""}],
        "read": "кот Бублик",
    }
    clean = scrub_state(values, forgetting.Forgettable(terms=frozenset({"кот"})), frozenset())
    assert clean["recalled"] == [] and clean["read"] == ""
