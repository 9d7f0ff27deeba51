"""👍/👎 in Telegram, "answer again", /share_for_training, and `dora train data` built from it.

The real bot (aiogram, long polling) against the loopback Bot API server, users scripted through it;
only the LLM is a fake. Then the real `dora train data` command reads what the bot kept.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.db.models import Event, Rating, TrainingExample
from bot.keyboards import ForgetCb, ForgetTopicCb, RateCb, RegenCb, TrainingCb
from dora.cli import app
from dora.config import Settings
from memory.embeddings import E5Embeddings
from testkit.botapi import DEFAULT_TOKEN, BotAPIServer
from tests.test_bot import Brain, RunningBot, onboard

ALICE, BOB = 5550101, 5550102


class CountingBrain(Brain):
    """Chat replies say which reply they are, so a regenerated reply differs from the first."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def __call__(self, tool: str, messages: list[BaseMessage]) -> Any:
        if tool in ("ExtractedFacts", "ReconcileDecision"):
            return super().__call__(tool, messages)
        self.prompts.append(messages)
        self.n += 1
        return f"Ответ {self.n} на: {messages[-1].content}"


@pytest.fixture
def server() -> Iterator[BotAPIServer]:
    with BotAPIServer() as s:
        yield s


def _settings(tmp_path: Path, server: BotAPIServer, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        telegram_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
        telegram_api_base=server.base_url,
        whisper_model=str(tmp_path / "no-whisper"),  # no voice here
        **extra,
    )


def reply_to(server: BotAPIServer, user: int, text: str) -> tuple[int, str]:
    """The user writes; the reply's last message (id, text) once it is final."""
    mark = server.mark()
    server.user_message(user, text)
    call = server.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and c.chat_id == user and "Ответ" in (c.text or ""),
        since=mark,
        timeout=20,
    )
    return call.result["message_id"], call.text or ""


def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Wait for the bot's bookkeeping (done after the reply is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def command(server: BotAPIServer, user: int, text: str) -> str:
    mark = server.mark()
    server.user_command(user, text)
    return server.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == user, since=mark).text or ""


def press(server: BotAPIServer, user: int, data: str, method: str = "sendMessage", **kw: Any) -> Any:
    mark = server.mark()
    server.user_callback(user, data, **kw)
    return server.wait_for(lambda c: c.method == method and c.chat_id == user, since=mark, timeout=20)


def build(out: Path, settings: Settings, *args: str) -> dict[str, Any]:
    """`dora train data` as an operator runs it; every file it wrote, as text."""
    result = CliRunner().invoke(
        app, ["train", "data", "--out", str(out), "--data-dir", str(settings.data_dir), *args]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()}


def lines(files: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(x)
        for name in (f"{kind}_train.jsonl", f"{kind}_eval.jsonl")
        for x in files[name].splitlines()
    ]


def train_on(files: dict[str, str], tmp_path: Path) -> None:
    """`dora train sft` (merged) and `dora train dpo`, a few steps on a tiny model, on the set the bot
    built; the merged folder answers through DORA's transformers backend. Each split is small here
    (two examples, one pair), so both files of a kind get all of that kind's rows."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from dora.wiring.llm import build_llm
    from tests.tiny_lm import build_tiny_llama

    folder = tmp_path / "trainable"
    folder.mkdir()
    for kind in ("sft", "dpo"):
        rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines(files, kind))
        for split in ("train", "eval"):
            (folder / f"{kind}_{split}.jsonl").write_text(rows, encoding="utf-8")
    words = sorted({w for text in files.values() for w in text.split()})[:4000]
    base = build_tiny_llama(tmp_path / "tiny", words)
    runner = CliRunner()
    fast = ["--base", str(base), "--data", str(folder), "--max-steps", "2", "--lora-r", "4", "--json"]
    sft = runner.invoke(app, ["train", "sft", *fast, "--out", str(tmp_path / "sft"), "--merge"])
    assert sft.exit_code == 0, sft.output
    dpo = runner.invoke(app, ["train", "dpo", *fast, "--out", str(tmp_path / "dpo")])
    assert dpo.exit_code == 0, dpo.output
    merged = Path(json.loads(sft.stdout.strip().splitlines()[-1])["merged"])
    model = build_llm(Settings(data_dir=tmp_path, llm="transformers", llm_model=str(merged)), "chat")
    model.device, model.max_tokens = "cpu", 6
    answer = model.invoke([SystemMessage("Дора"), HumanMessage("Расскажи сказку про дракона")])
    assert isinstance(answer.content, str) and answer.content.strip()


def count_rows(bot: RunningBot, model: Any, user: int) -> int:
    async def go() -> int:
        async with bot.deps.accounts._session() as s:
            return (
                await s.execute(select(func.count()).select_from(model).where(model.user_id == user))
            ).scalar_one()

    return bot.call(go())


def test_ratings_consent_regeneration_and_the_dataset(
    tmp_path: Path, server: BotAPIServer, embeddings: E5Embeddings
) -> None:
    # without the train extra (natasha) the set is built unscrubbed and only the consent is checked
    scrub = importlib.util.find_spec("natasha") is not None
    settings = _settings(tmp_path, server)
    brain = CountingBrain()
    bot = RunningBot(settings, brain, embeddings).start()
    try:
        for user in (ALICE, BOB):
            onboard(server, user=user)
        store = bot.deps.feedback.store

        # before opting in, nothing of Alice's is kept for training
        before_id, _ = reply_to(server, ALICE, "До согласия: мой кот Барсик спит")
        bot.call(bot.deps.conversations.idle())
        assert until(lambda: bot.call(store.reply(ALICE, before_id))) is not None
        assert bot.call(store.examples(ALICE)) == []

        # Alice opts in: explained first, on only by her own button press
        shown = command(server, ALICE, "/share_for_training")
        assert "/share_for_training off" in shown and not bot.call(bot.deps.feedback.sharing(ALICE))
        assert "Спасибо" in (press(server, ALICE, TrainingCb(action="on").pack()).text or "")
        assert bot.call(bot.deps.feedback.sharing(ALICE))

        liked_id, liked = reply_to(
            server,
            ALICE,
            "Вчера мы с Ольгой Петровой гуляли по Казани. Мой телефон +7 915 123-45-67, почта olga.k@mail.ru",
        )
        bot.call(bot.deps.conversations.idle())  # the reply is remembered once it is sent
        server.user_reaction(ALICE, liked_id, "👍")
        assert until(lambda: bot.call(store.rating(ALICE, liked_id))) == 1

        disliked_id, disliked = reply_to(server, ALICE, "Расскажи сказку про дракона")
        bot.call(bot.deps.conversations.idle())
        mark = server.mark()
        server.user_reaction(ALICE, disliked_id, "👎")
        offer = server.wait_for(
            lambda c: c.method == "sendMessage" and c.params.get("reply_markup"), since=mark
        )
        assert "иначе" in (offer.text or "").lower()
        assert until(lambda: bot.call(store.rating(ALICE, disliked_id))) == -1

        # "answer again": a new reply to the same message, written by the model again
        again = press(server, ALICE, RegenCb(message_id=disliked_id).pack())
        assert "Ответ" in (again.text or "") and again.text != disliked
        assert "сказку про дракона" in (again.text or "")
        assert until(lambda: len(bot.call(store.examples(ALICE))) == 3)
        regenerated = bot.call(store.examples(ALICE))[-1]
        assert regenerated.replaces == disliked_id and regenerated.reply == again.text
        thread = bot.call(bot.deps.companion.messages(f"tg:{ALICE}", "dora"))
        said = [m.content for m in thread]
        assert disliked not in said and again.text in said  # the rejected reply left the thread
        assert said.count("Расскажи сказку про дракона") == 1  # the message itself stays, once

        # Bob never opts in: his reaction is stored (no text), his conversation is not
        bob_first, _ = reply_to(server, BOB, "Секрет Боба: фиолетовый жираф живёт на балконе")
        bob_id, _ = reply_to(server, BOB, "А ещё у него есть шарф")
        bot.call(bot.deps.conversations.idle())
        mark = server.mark()
        server.user_reaction(BOB, bob_first, "👎")
        server.user_reaction(BOB, bob_id, "👍")
        assert until(lambda: bot.call(store.rating(BOB, bob_id))) == 1
        assert bot.call(store.rating(BOB, bob_first)) == -1
        # a 👎 on an older reply offers nothing: only the newest message can be answered again
        assert [c for c in server.calls()[mark:] if c.method == "sendMessage"] == []
        assert bot.call(store.examples(BOB)) == []
        events = bot.call(bot.deps.accounts.events())
        assert {(e["user_id"], e["name"], e["kind"]) for e in events if e["name"] == "rating"} == {
            (ALICE, "rating", "up"),
            (ALICE, "rating", "down"),
            (BOB, "rating", "up"),
            (BOB, "rating", "down"),
        }

        # her export holds her ratings and what was kept for training; Bob's holds no examples
        mark = server.mark()
        server.user_command(ALICE, "/export")
        exported = json.loads(server.wait_for("sendDocument", since=mark, timeout=20).files["document"])
        assert {(r["message_id"], r["value"]) for r in exported["account"]["ratings"]} == {
            (liked_id, 1),
            (disliked_id, -1),
        }
        assert [ex["reply"] for ex in exported["training_examples"]] == [liked, disliked, again.text]

        files = build(
            tmp_path / "set", settings, "--eval-fraction", "0.5", *([] if scrub else ["--no-scrub"])
        )
        everything = "\n".join(files.values())
        for secret in ("жираф", "Боба", "Барсик"):  # never shared, or said before sharing
            assert secret not in everything, secret
        if scrub:
            for secret in ("+7 915", "123-45-67", "olga.k@mail.ru", "Ольг", "Петров", "Казан"):
                assert secret not in everything, secret
            assert "[PHONE]" in everything and "[EMAIL]" in everything and "[NAME]" in everything
        else:
            assert "Not scrubbed" in files["README.md"] and "olga.k@mail.ru" in everything
        sft, dpo = lines(files, "sft"), lines(files, "dpo")
        answers = [ex["messages"][-1]["content"] for ex in sft]
        assert len(sft) == 2 and again.text in answers and disliked not in answers  # 👎 is no SFT example
        assert all(
            ex["messages"][0]["role"] == "system" and "Дора" in ex["messages"][0]["content"] for ex in sft
        )
        assert len(dpo) == 1
        pair = dpo[0]
        assert pair["chosen"] == [{"role": "assistant", "content": again.text}]
        assert pair["rejected"] == [{"role": "assistant", "content": disliked}]
        assert pair["prompt"][-1] == {"role": "user", "content": "Расскажи сказку про дракона"}
        if importlib.util.find_spec("trl") is not None:  # the train extra: the set trains as built
            train_on(files, tmp_path)
        assert "| Users | 1 |" in files["README.md"] and "Preference pairs" in files["README.md"]

        # revoking deletes what was kept at once; a rebuilt set has nothing of Alice's
        assert "удалено" in command(server, ALICE, "/share_for_training off")
        assert bot.call(store.examples(ALICE)) == [] and not bot.call(bot.deps.feedback.sharing(ALICE))
        rebuilt = build(tmp_path / "again", settings)
        assert lines(rebuilt, "sft") == [] and lines(rebuilt, "dpo") == []
        assert "сказку" not in "\n".join(rebuilt.values())

        # opted in again: a forgotten topic takes its examples, /forget takes everything
        press_on = command(server, ALICE, "/share_for_training")
        assert press_on and press(server, ALICE, TrainingCb(action="on").pack())
        reply_to(server, ALICE, "Сегодня на работе был длинный день")
        reply_to(server, ALICE, "Мой хомяк Пушок грызёт провода")
        assert until(lambda: len(bot.call(store.examples(ALICE))) == 2)
        first = bot.call(store.examples(ALICE))[0]
        assert [t["content"] for t in first.context] == [
            "Сегодня на работе был длинный день"
        ]  # since opting in
        bot.call(bot.deps.companion.drain())
        mark = server.mark()
        server.user_message(ALICE, "Забудь, что я говорил про хомяка")
        asked = server.wait_for(
            lambda c: c.method == "sendMessage" and c.params.get("reply_markup"), since=mark
        )
        plan = asked.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        assert ForgetTopicCb.unpack(plan).confirm
        press(server, ALICE, plan)
        assert until(lambda: count_rows(bot, TrainingExample, ALICE) == 1)
        (left,) = bot.call(store.examples(ALICE))
        assert left.id == first.id and "хомяк" not in json.dumps(
            [left.context, left.reply], ensure_ascii=False
        )

        command(server, ALICE, "/forget")
        press(server, ALICE, ForgetCb(confirm=True).pack())
        assert count_rows(bot, TrainingExample, ALICE) == 0
        assert count_rows(bot, Rating, ALICE) == 0 and count_rows(bot, Event, ALICE) == 0
        assert count_rows(bot, Rating, BOB) == 2  # nobody else's
    finally:
        bot.stop()


def test_the_rating_row_under_replies_is_the_operators_choice(
    tmp_path: Path, server: BotAPIServer, embeddings: E5Embeddings
) -> None:
    settings = _settings(tmp_path, server, feedback_buttons=True)
    bot = RunningBot(settings, CountingBrain(), embeddings).start()
    try:
        onboard(server, user=ALICE)
        first_id, _ = reply_to(server, ALICE, "Привет!")
        row = server.wait_for(
            lambda c: c.method == "editMessageReplyMarkup" and c.params.get("message_id") == first_id
        )
        assert "🙂" in json.dumps(row.params["reply_markup"], ensure_ascii=False)
        press(
            server, ALICE, RateCb(value="down").pack(), method="editMessageReplyMarkup", message_id=first_id
        )
        assert until(lambda: bot.call(bot.deps.feedback.store.rating(ALICE, first_id))) == -1
        again = press(server, ALICE, RegenCb(message_id=first_id).pack(), message_id=first_id)
        assert again.text and again.text.startswith("Ответ 2")
        second_id = again.result["message_id"]
        server.wait_for(
            lambda c: c.method == "editMessageReplyMarkup" and c.params.get("message_id") == second_id
        )
        press(server, ALICE, RateCb(value="up").pack(), method="editMessageReplyMarkup", message_id=second_id)
        assert until(lambda: bot.call(bot.deps.feedback.store.rating(ALICE, second_id))) == 1
        # once the conversation moved on, an older reply can no longer be answered again
        reply_to(server, ALICE, "Как дела?")
        bot.call(bot.deps.conversations.idle())
        mark = server.mark()
        server.user_callback(ALICE, RegenCb(message_id=first_id).pack(), message_id=first_id, strict=False)
        answered = server.wait_for("answerCallbackQuery", since=mark)
        assert answered.params.get("show_alert") and len(bot.brain.prompts) == 3
    finally:
        bot.stop()


class _Clear:
    """A stand-in cipher (the real one is tested with the inbox): only round-trips are checked here."""

    def encrypt(self, text: str, aad: str) -> str:
        return f"{aad}|{text}"

    def decrypt(self, blob: str, aad: str) -> str:
        stamp, _, text = blob.partition("|")
        assert stamp == aad
        return text


class _Turns:
    async def training_turn(self, user_id: str, persona_id: str, message_id: str) -> Any:
        from agent.companion import TrainingTurn

        return TrainingTurn("ru", [{"role": "user", "content": "Привет", "id": message_id}])


def test_a_reply_sent_again_after_a_crash_is_kept_once(tmp_path: Path) -> None:
    """A turn retried after a crash sends its reply again under a new message id: remembered for
    ratings, but kept for training only the first time; a plain (crisis, apology) reply never."""
    import asyncio

    from bot.conversation import SentReply
    from bot.db.engine import create_engine_and_sessions, migrate
    from bot.db.feedback import Feedback
    from bot.db.repo import Accounts
    from bot.feedback import FeedbackKeeper

    async def scenario() -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite'}"
        await migrate(url)
        engine, sessions = create_engine_and_sessions(url)
        try:
            accounts, store = Accounts(sessions), Feedback(sessions, lambda _id: _Clear())  # type: ignore[arg-type, return-value]
            keeper = FeedbackKeeper(accounts, store, _Turns(), "test:model")  # type: ignore[arg-type]
            await accounts.get_or_create_user(ALICE, "ru")
            await keeper.start_sharing(ALICE)
            await keeper.on_reply(SentReply(ALICE, ALICE, "dora", "t1", "Привет!", [10]))
            await keeper.on_reply(SentReply(ALICE, ALICE, "dora", "t1", "Привет!", [11], retried=True))
            await keeper.on_reply(SentReply(ALICE, ALICE, "dora", "t2", "Help lines", [12], plain=False))
            assert [ex.message_id for ex in await store.examples(ALICE)] == [10]
            assert all([await store.reply(ALICE, m) for m in (10, 11, 12)])  # every one can be rated
            assert (await store.reply(ALICE, 10)).model == "test:model"  # type: ignore[union-attr]
            assert await keeper.stop_sharing(ALICE) == 1 and await store.examples(ALICE) == []
            await keeper.on_reply(SentReply(ALICE, ALICE, "dora", "t3", "Ещё", [13]))
            assert await store.examples(ALICE) == []  # not sharing: nothing kept
        finally:
            await engine.dispose()

    asyncio.run(scenario())
