"""DORA writes first: the real bot against the loopback Bot API server, a clock the test moves.

A scripted user mentions an event on Tuesday and gets exactly one follow-up after it (none before,
none at night, none twice); none after ``/checkins off``; none after blocking the bot; none during a
crisis; none about a forgotten memory; one warm message after days of silence. Two senders on one
database: a check-in claimed by a worker that dies mid-send is sent once, by the other. Only the LLM
is a fake.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.presence.compose import grounded
from agent.presence.events import coming_event
from bot.checkins import CheckinSender
from dora.config import Settings
from testkit.botapi import DEFAULT_TOKEN, BotAPIServer
from tests.test_bot import USER, Brain, RunningBot, onboard, say

MSK = ZoneInfo("Europe/Moscow")
TUESDAY = datetime(2026, 12, 1, 15, 0, tzinfo=MSK)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@pytest.fixture
def server() -> Iterator[BotAPIServer]:
    with BotAPIServer() as s:
        yield s


@pytest.fixture
def brain() -> Brain:
    return Brain()


@pytest.fixture
def clock() -> Clock:
    return Clock(TUESDAY)


@pytest.fixture
def bot(tmp_path: Path, server: BotAPIServer, brain: Brain, embeddings, clock: Clock) -> Iterator[RunningBot]:
    settings = Settings(
        data_dir=tmp_path / "data",
        telegram_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
        telegram_api_base=server.base_url,
        whisper_model=str(tmp_path / "no-whisper"),
        checkins_every_s=3600,  # the test ticks itself, at the times it chooses
    )
    running = RunningBot(settings, brain, embeddings).start()
    running.deps.companion.checkins.clock = clock
    yield running
    running.stop()


def tick(bot: RunningBot, server: BotAPIServer, at: datetime) -> list[str]:
    """One round of the sender at ``at``; the texts it sent to the user."""
    mark = server.mark()
    bot.call(bot.deps.checkin_sender.tick(at.astimezone(UTC)))
    return [c.text or "" for c in server.calls()[mark:] if c.method == "sendMessage" and c.ok]


def settle(bot: RunningBot) -> None:
    bot.call(bot.deps.companion.drain())  # planning runs after the reply, in the background


def test_events_are_read_against_the_users_local_time() -> None:
    late_evening = datetime(2026, 12, 1, 23, 30, tzinfo=MSK)  # 20:30 UTC: still Tuesday in UTC too
    assert coming_event("завтра к врачу", late_evening).span.start.date().isoformat() == "2026-12-02"
    just_after_midnight = datetime(2026, 12, 2, 0, 30, tzinfo=MSK)  # Tuesday 21:30 in UTC
    assert coming_event("завтра к врачу", just_after_midnight).span.start.date().isoformat() == "2026-12-03"
    found = coming_event("on Friday I have a date", TUESDAY)
    assert found is not None and found.span.start.date().isoformat() == "2026-12-04"
    week = coming_event("через неделю экзамен", TUESDAY)
    assert week is not None and week.sure < 0.9  # a week, not a day: less sure, asked after the week
    for not_an_event in ("вчера был у врача", "что у тебя завтра?", "в мае переезжаю", "завтра напишу тебе"):
        assert coming_event(not_an_event, TUESDAY) is None, not_an_event


def test_a_check_in_the_model_wrote_must_be_about_its_memory() -> None:
    said = "В понедельник у меня собеседование в Яндекс, волнуюсь"
    assert grounded("Привет! Как прошло собеседование в Яндексе?", said)
    assert not grounded("Привет! Как у тебя прошёл понедельник?", said)  # a day is not the event
    assert not grounded("1. Как ты?\n2. Как прошло собеседование?", said)  # a list, not a message
    assert not grounded("", said)


def test_the_plain_line_that_stands_in_speaks_in_the_personas_gender(tmp_path: Path) -> None:
    from agent.presence.compose import fallback
    from dora.wiring.agent import build_personas

    personas = build_personas(Settings(data_dir=tmp_path))
    said = "В понедельник у меня собеседование в Яндекс, волнуюсь"
    dora_line = fallback(personas.get("dora"), "ru", "event", said)
    assert "Вспомнила" in dora_line and "собеседование" in dora_line and grounded(dora_line, said)
    mark = next(c for c in personas.list() if c.dora.gender == "male")
    assert "Вспомнил," in fallback(mark, "ru", "event", said)
    assert "How did it go" in fallback(personas.get("dora"), "en", "event", "I have a date on Friday")


def test_one_follow_up_after_the_event_in_the_personas_voice(server, bot, brain, clock):
    onboard(server)
    say(server, "В четверг у меня собеседование в банке, очень волнуюсь")
    settle(bot)
    thursday = datetime(2026, 12, 3, 20, 0, tzinfo=MSK)
    assert tick(bot, server, thursday) == []  # not over yet
    friday_night = datetime(2026, 12, 4, 7, 0, tzinfo=MSK)
    assert tick(bot, server, friday_night) == []  # due from 11:00, and never at night
    friday = datetime(2026, 12, 4, 12, 0, tzinfo=MSK)
    sent = tick(bot, server, friday)
    assert len(sent) == 1
    prompt = brain.prompts[-1]
    assert "собеседование в банке" in str(prompt[-1].content)  # the memory, given to the persona
    assert "Дора" in str(prompt[0].content)  # in the persona's own prompt
    assert tick(bot, server, friday + timedelta(minutes=5)) == []  # once
    assert tick(bot, server, friday + timedelta(days=1)) == []

    clock.at = friday + timedelta(hours=2)
    say(server, "Прошло нормально, жду ответа!")  # answers: a funnel event
    events = bot.call(bot.deps.accounts.events())
    answered = [e for e in events if e["name"] == "checkin_answered"]
    sent_events = [e for e in events if e["name"] == "checkin_sent"]
    assert len(answered) == 1 and len(sent_events) == 1 and sent_events[0]["kind"] == "event"
    messages = bot.call(bot.deps.companion.messages(f"tg:{USER}", "dora"))
    assert sent[0] in [str(m.content) for m in messages]  # the check-in is in the thread: context


def test_none_after_checkins_off_and_none_in_quiet_hours_after_on(server, bot, clock):
    onboard(server)
    say(server, "Завтра к врачу, немного страшно")
    settle(bot)
    assert "не буду" in say(server, "/checkins off")
    thursday = datetime(2026, 12, 3, 12, 0, tzinfo=MSK)
    assert tick(bot, server, thursday) == []
    due = bot.call(bot.deps.companion.checkins.due(thursday.astimezone(UTC)))
    assert due == []
    assert "буду" in say(server, "/checkins on")
    assert tick(bot, server, datetime(2026, 12, 3, 22, 30, tzinfo=MSK)) == []  # quiet hours
    assert tick(bot, server, datetime(2026, 12, 4, 9, 30, tzinfo=MSK)) == []
    assert len(tick(bot, server, datetime(2026, 12, 4, 11, 30, tzinfo=MSK))) == 1


def test_the_users_time_zone_sets_when_the_follow_up_goes(server, bot, clock):
    onboard(server)
    assert "Asia/Yekaterinburg" in say(server, "/timezone Екатеринбург")
    assert "Etc/GMT-5" in say(server, "/timezone +5")
    assert "Europe/Berlin" in say(server, "/timezone Europe/Berlin")
    assert "Europe/Berlin" in say(server, "/timezone Марс")  # not a zone: the current one is shown
    say(server, "/timezone Екатеринбург")
    say(server, "Завтра к врачу, немного страшно")  # Tuesday 17:00 there
    settle(bot)
    # Thursday 09:30 in Moscow is 11:30 in Yekaterinburg: due there, and inside its day
    assert len(tick(bot, server, datetime(2026, 12, 3, 9, 30, tzinfo=MSK))) == 1


def test_no_check_in_to_a_user_who_blocked_the_bot(server, bot, clock):
    onboard(server)
    say(server, "В пятницу у меня концерт, выступаю впервые")
    settle(bot)
    server.block_user(USER)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=MSK)
    assert tick(bot, server, saturday) == []
    tries = [c for c in server.calls("sendMessage") if not c.ok]
    assert len(tries) == 1 and tries[0].status == 403
    assert tick(bot, server, saturday + timedelta(hours=1)) == []
    assert len([c for c in server.calls("sendMessage") if not c.ok]) == 1  # not tried again
    presence = bot.call(bot.deps.companion.checkins.store.get(f"tg:{USER}"))
    assert presence.blocked


def test_a_block_telegram_announces_stops_check_ins_before_any_is_tried(server, bot, clock):
    onboard(server)
    say(server, "В пятницу у меня концерт, выступаю впервые")
    settle(bot)
    server.block_user(USER, notify=True)  # my_chat_member: "kicked"
    deadline = time.monotonic() + 10
    while not bot.call(bot.deps.companion.checkins.store.get(f"tg:{USER}")).blocked:
        assert time.monotonic() < deadline, "the block was not learned"
        time.sleep(0.1)
    assert tick(bot, server, datetime(2026, 12, 5, 12, 0, tzinfo=MSK)) == []
    assert [c for c in server.calls("sendMessage") if not c.ok] == []  # not even tried


def test_no_check_in_during_or_after_a_crisis(server, bot, clock):
    onboard(server)
    say(server, "В четверг у меня экзамен по химии")
    settle(bot)
    say(server, "я больше не хочу жить, всё бессмысленно")
    settle(bot)
    friday = datetime(2026, 12, 4, 12, 0, tzinfo=MSK)
    assert tick(bot, server, friday) == []
    rows = bot.call(bot.deps.companion.checkins.store.of_user(f"tg:{USER}"))
    assert [r.status for r in rows] == ["cancelled"]  # never "how did the exam go?" after that


def test_a_user_silent_after_a_suicidal_crisis_is_asked_once_how_they_are(server, bot, clock):
    clock.at = datetime.now(MSK)  # the safety rules stamp the sign with the real time: stay beside it
    onboard(server)
    say(server, "я больше не хочу жить, всё бессмысленно")
    settle(bot)
    risk = bot.call(bot.deps.companion.profile(f"tg:{USER}"))["risk"]
    risk_at = datetime.fromisoformat(risk["at"])
    checkins = bot.deps.companion.checkins
    assert bot.call(checkins.due(risk_at + timedelta(hours=3))) == []  # not at once: they may write
    local = (risk_at + timedelta(hours=25)).astimezone(MSK)
    if not 11 <= local.hour < 21:  # the next noon inside the day's hours
        local = (local + timedelta(days=1 if local.hour >= 21 else 0)).replace(hour=12, minute=0)
    due = bot.call(checkins.due(local.astimezone(UTC)))
    assert [(d.reason, d.about) for d in due] == [("safety", "")]
    sent = tick(bot, server, local)
    assert len(sent) == 1
    assert "Как ты сейчас" in sent[0] and "112" in sent[0]  # fixed words, and the help lines
    assert tick(bot, server, local + timedelta(hours=1)) == []  # once


def test_an_event_said_in_a_crisis_is_not_planned(server, bot, clock):
    onboard(server)
    say(server, "Завтра экзамен, и я больше не хочу жить")
    settle(bot)
    assert bot.call(bot.deps.companion.checkins.store.of_user(f"tg:{USER}")) == []


def test_no_check_in_about_a_forgotten_memory(server, bot, clock):
    onboard(server)
    say(server, "В четверг у меня свидание с Антоном")
    settle(bot)
    bot.call(bot.deps.companion.forget_about(f"tg:{USER}", "свидание"))
    friday = datetime(2026, 12, 4, 12, 0, tzinfo=MSK)
    assert bot.call(bot.deps.companion.checkins.due(friday.astimezone(UTC))) == []
    assert tick(bot, server, friday) == []


def test_one_warm_message_after_a_silence_and_not_a_second(server, bot, brain, clock):
    onboard(server)
    say(server, "Мой кот Бублик опять разбил мамину вазу")
    settle(bot)
    assert tick(bot, server, TUESDAY + timedelta(days=2)) == []  # two days: not silence yet
    later = datetime(2026, 12, 6, 12, 0, tzinfo=MSK)  # five days on, at noon
    sent = tick(bot, server, later)
    assert len(sent) == 1 and "Бублик" in str(brain.prompts[-1][-1].content)
    assert tick(bot, server, later + timedelta(days=5)) == []  # unanswered: never a second


def test_two_workers_one_killed_mid_send_one_check_in(server, bot, clock):
    onboard(server)
    say(server, "Завтра собеседование в Яндекс")
    settle(bot)
    checkins = bot.deps.companion.checkins
    thursday = datetime(2026, 12, 3, 12, 0, tzinfo=MSK).astimezone(UTC)
    # worker A claims the check-in and dies before sending it (its claim stays in the database)
    assert len(bot.call(checkins.take(thursday, "worker-a", "telegram"))) == 1
    b = CheckinSender(bot.deps.conversations.bot, bot.deps.companion, checkins, worker="worker-b")
    c = CheckinSender(bot.deps.conversations.bot, bot.deps.companion, checkins, worker="worker-c")

    async def both(at: datetime) -> list[int]:
        return list(await asyncio.gather(b.tick(at), c.tick(at)))

    mark = server.mark()
    assert bot.call(both(thursday + timedelta(seconds=30))) == [0, 0]  # A's claim still holds
    lease = timedelta(seconds=checkins.rules.lease_s + 1)
    assert sorted(bot.call(both(thursday + lease))) == [0, 1]  # run out: exactly one takes it
    assert bot.call(both(thursday + 2 * lease)) == [0, 0]
    sent = [c for c in server.calls()[mark:] if c.method == "sendMessage" and c.ok]
    assert len(sent) == 1


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from dora.wiring.bot import database_url as url_of

    if request.param == "sqlite":
        return url_of(Settings(data_dir=tmp_path))
    return url_of(Settings(data_dir=tmp_path, postgres_url=request.getfixturevalue("postgres_schema_url")))


def test_many_workers_claiming_at_once_take_each_check_in_once(database_url: str) -> None:
    """The claim itself, on both databases: eight workers race for five due check-ins, each opening
    the tables (created once, whoever comes first); every check-in is taken by exactly one of them."""
    from agent.presence.store import PresenceStore
    from bot.db.engine import create_engine_and_sessions

    at = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    async def run() -> list[list[int]]:
        engines = [create_engine_and_sessions(database_url)[0] for _ in range(8)]
        try:
            stores = await asyncio.gather(*(PresenceStore(e).open() for e in engines))
            for n in range(5):
                await stores[0].plan(
                    f"u{n}", "dora", "event", f"m{n}", f"event:m{n}", at, at + timedelta(days=3), at
                )
            assert not await stores[1].plan("u0", "dora", "event", "m0", "event:m0", at, at, at)  # idempotent
            due = await stores[0].planned(at)

            async def worker(i: int) -> list[int]:
                return [c.id for c in due if await stores[i].claim(c.id, f"w{i}", at, 60)]

            return list(await asyncio.gather(*(worker(i) for i in range(8))))
        finally:
            for engine in engines:
                await engine.dispose()

    taken = asyncio.run(run())
    ids = [i for per_worker in taken for i in per_worker]
    assert len(ids) == 5 and len(set(ids)) == 5
