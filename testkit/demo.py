"""`dora demo seed`: a reproducible demo data dir for notebooks, screenshots and tests.

Several users, weeks of dated conversations in Russian and English stored through the real memory
engine (encrypted, indexed), facts with an update that invalidates an older one, bot accounts with
consent, PRO payments and funnel events. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import BaseMessage

from bot.db.engine import create_engine_and_sessions, migrate
from bot.db.repo import Accounts
from bot.identity import agent_user_id
from bot.legal import VERSIONS
from dora.config import Settings
from dora.wiring.bot import database_url
from dora.wiring.memory import build_memory
from memory.extraction import FactExtractor
from memory.pipeline import MemoryWriter
from memory.reconcile import Reconciler
from memory.store import EpisodeIn
from testkit.fake_chat import FakeChatModel, Responder

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
PERSONAS = ("dora", "kylie", "mark", "coach", "star")

RU = {
    "names": ["Максим", "Аня", "Ольга", "Дима", "Катя", "Серёжа"],
    "pets": ["кот Бублик", "собака Жужа", "попугай Кеша", "кошка Муся"],
    "jobs": ["в банке аналитиком", "в школе учителем", "в кофейне бариста", "в IT разработчиком"],
    "lines": [
        "Привет! Как твои дела?",
        "Сегодня был тяжёлый день на работе",
        "Гуляли в парке, погода отличная",
        "Завтра собеседование, немного волнуюсь",
        "Посмотрела новый сериал, очень понравился",
        "Решил снова бегать по утрам",
        "Мама приезжает в выходные",
        "Пришли фото с кофе",
    ],
}
EN = {
    "names": ["Max", "Anna", "Olga", "Dima", "Kate", "Sergey"],
    "pets": ["a cat called Bagel", "a dog called Juju", "a parrot called Kesha"],
    "jobs": ["at a bank as an analyst", "at a school as a teacher", "at a startup as a developer"],
    "lines": [
        "Hi! How are you?",
        "Work was rough today",
        "We walked in the park, lovely weather",
        "I have a job interview tomorrow",
        "Watched a new series, loved it",
        "Started running in the mornings again",
    ],
}


def planted_facts(planted: dict[str, list[dict[str, Any]]]) -> Responder:
    """The demo's LLM, as a responder for the fake chat model: it answers extraction and
    reconciliation through tool calls, like a real model, from the facts the demo planted in each
    message (``planted``: message text → facts), so the real memory pipeline does the rest."""

    def respond(tool: str, messages: list[BaseMessage]) -> dict[str, Any]:
        last = str(messages[-1].content)
        if tool == "ExtractedFacts":
            return {"facts": [f for text, facts in planted.items() if text in last for f in facts]}
        # ReconcileDecision: a new job contradicts the stored job fact; anything else is new
        stored, _, new = last.partition("\n\nNEW fact: ")
        if _is_job(new):
            for line in stored.splitlines():
                number, _, text = line.partition(". ")
                if number.isdigit() and _is_job(text):
                    return {"action": "INVALIDATE", "target": int(number)}
        return {"action": "ADD"}

    return respond


def _is_job(fact: str) -> bool:
    return "работает" in fact or "works" in fact


@dataclass
class DemoReport:
    users: int
    episodes: int
    facts: int
    invalidated: int
    payments: int
    events: int


async def seed_demo(settings: Settings, users: int = 6, seed: int = 7) -> DemoReport:
    """Fill ``settings.data_dir`` with demo users (ids 100001…); re-running adds nothing twice
    for facts/episodes only if the data dir is fresh, so point it at an empty folder."""
    rng = random.Random(seed)
    memory = build_memory(settings)
    url = database_url(settings)
    await migrate(url)
    engine, sessions = create_engine_and_sessions(url)
    accounts = Accounts(sessions)
    report = DemoReport(0, 0, 0, 0, 0, 0)
    try:
        for n in range(users):
            tid = 100001 + n
            lang = "en" if n % 3 == 2 else "ru"
            texts = EN if lang == "en" else RU
            persona = PERSONAS[n % len(PERSONAS)]
            joined = START + timedelta(days=rng.randint(0, 10), hours=rng.randint(0, 12))
            await accounts.get_or_create_user(tid, lang, now=joined)
            await accounts.record_event(tid, "start", joined)
            if n % 6 == 5:  # some never accept: the funnel's first drop
                report.users += 1
                report.events += 1
                continue
            for document, version in VERSIONS.items():
                await accounts.record_consent(tid, document, version, joined + timedelta(minutes=1))
            await accounts.set_persona(tid, persona)
            await accounts.record_event(tid, "consent", joined + timedelta(minutes=1))
            await accounts.record_event(
                tid, "persona_chosen", joined + timedelta(minutes=2), persona_id=persona
            )
            report.events += 3

            uid = agent_user_id(tid)
            name, pet, job = rng.choice(texts["names"]), rng.choice(texts["pets"]), rng.choice(texts["jobs"])
            intro = (
                f"Меня зовут {name}, у меня {pet}, работаю {job}"
                if lang == "ru"
                else f"My name is {name}, I have {pet}, I work {job}"
            )
            planted = {
                intro: [
                    {"text": _fact(lang, "name", name), "category": "personal", "importance": 8},
                    {"text": _fact(lang, "pet", pet), "category": "pets", "importance": 7},
                    {"text": _fact(lang, "job", job), "category": "work", "importance": 6},
                ]
            }
            episodes = [EpisodeIn(text=intro, at=joined + timedelta(minutes=3), persona=persona)]
            days = sorted(rng.sample(range(1, 28), k=rng.randint(2, 6)))
            for day in days:
                for m in range(rng.randint(2, 4)):
                    at = joined + timedelta(days=day, minutes=10 * m)
                    text = rng.choice(texts["lines"])
                    episodes.append(EpisodeIn(text=text, at=at, persona=persona, extracted=True))
            if n % 2 == 0:  # a job change: the reconciler invalidates the old job with the new one
                new_job = rng.choice([j for j in texts["jobs"] if j != job])
                change = (
                    f"Я ушёл с прошлой работы, теперь работаю {new_job}"
                    if lang == "ru"
                    else f"I quit my old job, now I work {new_job}"
                )
                episodes.append(
                    EpisodeIn(text=change, at=joined + timedelta(days=days[-1], hours=2), persona=persona)
                )
                planted[change] = [{"text": _fact(lang, "job", new_job), "category": "work", "importance": 6}]
            memory.add_episodes(uid, episodes)
            for episode in episodes:
                kind = "voice" if rng.random() < 0.25 else "text"
                await accounts.record_event(tid, "message", episode.at, persona_id=persona, kind=kind)
            report.episodes += len(episodes)
            report.events += len(episodes)

            llm = FakeChatModel(responder=planted_facts(planted))
            writer = MemoryWriter(memory, FactExtractor(llm), Reconciler(memory, llm), share_facts=True)
            outcome = writer.process_pending(uid)
            report.facts += sum(1 for o in outcome.outcomes if o.action.value != "NOOP")
            report.invalidated += sum(1 for o in outcome.outcomes if o.action.value == "INVALIDATE")
            if n % 3 == 0:
                paid = joined + timedelta(days=days[0])
                await accounts.record_payment(tid, f"demo-{tid}", "pro:30", "XTR", 250, 30, paid)
                await accounts.record_event(tid, "pro_paid", paid)
                report.payments += 1
                report.events += 1
            report.users += 1
        memory.flush()
    finally:
        await engine.dispose()
    return report


def _fact(lang: str, what: str, value: str) -> str:
    if lang == "en":
        return {
            "name": f"The user's name is {value}",
            "pet": f"The user has {value}",
            "job": f"The user works {value}",
        }[what]
    return {
        "name": f"Пользователя зовут {value}",
        "pet": f"У пользователя {value}",
        "job": f"Пользователь работает {value}",
    }[what]
