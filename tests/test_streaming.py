"""Replies that grow in the chat while they are written: the real bot against the loopback Bot API
server, with drafts (``sendMessageDraft``) and, on a server without them, by editing one message.

The fake model writes a word every ``PACE_S``, so a reply takes a few seconds to write, as on a CPU.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from dora.config import Settings
from memory.embeddings import E5Embeddings
from testkit.botapi import DEFAULT_TOKEN, BotAPIServer, Call
from tests.test_bot import USER, Brain, RunningBot, onboard

PACE_S = 0.12
WORDS = 28  # about 3.4 s of writing


class Talkative(Brain):
    """Chat replies of ``WORDS`` numbered words, each call's own, so replies can be told apart."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[str] = []

    def __call__(self, tool: str, messages: list) -> object:  # type: ignore[override]
        answer = super().__call__(tool, messages)
        if tool:
            return answer
        n = len(self.replies) + 1
        reply = " ".join(f"слово{n}-{i}" for i in range(WORDS))
        self.replies.append(reply)
        return reply


@pytest.fixture
def server() -> Iterator[BotAPIServer]:
    with BotAPIServer() as s:
        yield s


def _settings(tmp_path: Path, server: BotAPIServer, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        telegram_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
        telegram_api_base=server.base_url,
        whisper_model=str(tmp_path / "no-whisper"),
        **extra,  # type: ignore[arg-type]
    )


def _final(server: BotAPIServer, mark: int) -> Call:
    return server.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and "слово" in (c.text or "") and c.chat_id == USER,
        since=mark,
        timeout=30,
    )


def _bot_texts(server: BotAPIServer) -> list[str]:
    return [m.get("text", "") for m in server.messages(USER) if m.get("from", {}).get("is_bot")]


def test_a_reply_grows_in_a_draft_and_is_then_sent_whole(tmp_path, server, embeddings: E5Embeddings):
    brain = Talkative()
    bot = RunningBot(_settings(tmp_path, server), brain, embeddings, pace_s=PACE_S).start()
    try:
        onboard(server)
        mark = server.mark()
        server.user_message(USER, "Расскажи что-нибудь длинное")
        final = _final(server, mark)
    finally:
        bot.stop()
    reply = brain.replies[-1]
    assert final.text == reply
    drafts = [c for c in server.calls("sendMessageDraft")[0:] if c.ok]
    shown = server.drafts_shown(USER)
    assert len(shown) >= 3, shown  # it visibly grew
    for before, after in itertools.pairwise(shown):
        assert after.startswith(before) and len(after) > len(before)
    assert all(reply.startswith(s) for s in shown)
    assert len({c.params["draft_id"] for c in drafts}) == 1  # one draft, animated
    assert all(c.at <= final.at for c in drafts)  # no preview after the reply was sent
    assert server.calls("editMessageText") == []
    assert _bot_texts(server)[-1] == reply  # the draft is no message: the reply is, once


def test_without_drafts_one_message_is_edited_about_once_a_second(tmp_path, server, embeddings):
    server.drafts = False  # an older Bot API server: sendMessageDraft is "Not Found"
    brain = Talkative()
    bot = RunningBot(_settings(tmp_path, server), brain, embeddings, pace_s=PACE_S).start()
    try:
        onboard(server)
        for turn in range(2):
            mark = server.mark()
            server.user_message(USER, f"Расскажи что-нибудь длинное, {turn}")
            server.wait_for(
                lambda c: (
                    c.method == "editMessageText" and c.ok and c.params.get("text") == brain.replies[-1]
                    if brain.replies
                    else False
                ),
                since=mark,
                timeout=30,
            )
            calls = server.calls()[mark:]
            sends = [c for c in calls if c.method == "sendMessage" and c.ok]
            edits = [c for c in calls if c.method == "editMessageText" and c.ok]
            assert len(sends) == 1, [c.text for c in sends]  # one message, grown by edits
            assert reply_is_prefix_growth([sends[0].text or "", *(c.params["text"] for c in edits)])
            assert len(edits) >= 2
            gaps = [b.at - a.at for a, b in zip([sends[0], *edits], edits, strict=False)]
            assert min(gaps[:-1] or [1.0]) >= 0.9, gaps  # throttled (the last edit is the final text)
            drafts = [c for c in calls if c.method == "sendMessageDraft"]
            # asked once, answered 404 like a server that lacks it; never asked again
            assert len(drafts) == (1 if turn == 0 else 0) and all(c.status == 404 for c in drafts)
    finally:
        bot.stop()
    texts = _bot_texts(server)
    assert texts[-2:] == brain.replies[-2:]  # each reply is exactly one message, the whole reply


def reply_is_prefix_growth(texts: list[str]) -> bool:
    return all(b.startswith(a) for a, b in itertools.pairwise(texts))


def test_a_failing_draft_falls_back_to_edits_for_that_reply(tmp_path, server, embeddings):
    server.fail_next("sendMessageDraft", status=400, description="Bad Request: TEXTDRAFT_PEER_INVALID")
    brain = Talkative()
    bot = RunningBot(_settings(tmp_path, server), brain, embeddings, pace_s=PACE_S).start()
    try:
        onboard(server)
        mark = server.mark()
        server.user_message(USER, "Ещё одну историю")
        server.wait_for(
            lambda c: (
                c.method == "editMessageText" and c.ok and c.params.get("text") == brain.replies[-1]
                if brain.replies
                else False
            ),
            since=mark,
            timeout=30,
        )
        mark = server.mark()
        server.user_message(USER, "И ещё одну")
        final = _final(server, mark)  # drafts are tried again on the next reply
    finally:
        bot.stop()
    assert final.text == brain.replies[-1]
    assert any(c.ok for c in server.calls("sendMessageDraft")[1:])


def test_streaming_off_sends_the_reply_whole(tmp_path, server, embeddings):
    brain = Talkative()
    settings = _settings(tmp_path, server, stream_replies=False)
    bot = RunningBot(settings, brain, embeddings, pace_s=0.02).start()
    try:
        onboard(server)
        mark = server.mark()
        server.user_message(USER, "Привет")
        final = _final(server, mark)
    finally:
        bot.stop()
    assert final.text == brain.replies[-1]
    assert server.calls("sendMessageDraft") == [] and server.calls("editMessageText") == []


async def _stream_long_reply(server: BotAPIServer, *, drafts: bool) -> tuple[str, list[str], list[str]]:
    """A 9,000-character reply fed to one :class:`ReplyStream` in 60-character pieces, a piece every
    20 ms: (the reply, what the chat ends with, every draft shown)."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.streaming import DraftSupport, ReplyStream, StreamOptions

    server.drafts = drafts
    server.add_user(USER)
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    sentence = "Это длинное предложение, чтобы ответ был больше одного сообщения. "
    reply = (sentence * 140).strip()
    try:
        stream = ReplyStream(bot, USER, StreamOptions(interval_s=0.2), DraftSupport())
        for i in range(0, len(reply), 60):
            stream.feed(reply[i : i + 60])
            await asyncio.sleep(0.02)
        await stream.finish(reply)
    finally:
        await bot.session.close()
    return reply, _bot_texts(server), server.drafts_shown(USER)


def test_a_long_streamed_reply_is_split_under_the_limit_either_way() -> None:
    from bot.replies import split_message

    for drafts in (True, False):
        with BotAPIServer() as server:
            reply, texts, shown = asyncio.run(_stream_long_reply(server, drafts=drafts))
        assert texts == split_message(reply) and len(texts) == 3, drafts  # 4096 UTF-16 units each, at most
        assert all(len(t) <= 4096 for t in shown)
        if drafts:  # the draft shows the piece being written, not the start of the reply
            assert any(t.startswith(texts[1][:50]) for t in shown)
        else:
            assert shown == []


def test_a_preview_held_up_by_a_429_never_holds_up_the_reply() -> None:
    """Telegram answers the first draft 429 "retry after 5": the bot's retry middleware waits that
    out inside the preview's request, and the whole reply still goes out at once when it is ready."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.middlewares.retry import TelegramRetryMiddleware
    from bot.streaming import DraftSupport, ReplyStream, StreamOptions

    async def run(server: BotAPIServer) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
        session.middleware(TelegramRetryMiddleware())
        bot = Bot(DEFAULT_TOKEN, session=session)
        try:
            stream = ReplyStream(bot, USER, StreamOptions(), DraftSupport())
            stream.feed("Сейчас расскажу")
            await asyncio.sleep(0.3)  # the draft is asked for and answered 429
            await stream.finish("Сейчас расскажу всё как было.")
        finally:
            await bot.session.close()

    with BotAPIServer() as server:
        server.add_user(USER)
        server.fail_next("sendMessageDraft", status=429, retry_after=5)
        asyncio.run(run(server))
        limited = server.calls("sendMessageDraft")[0]
        final = server.wait_for("sendMessage")
    assert limited.status == 429
    assert final.text == "Сейчас расскажу всё как было." and final.at < limited.at + 4
    assert len(server.calls("sendMessageDraft")) == 1  # the preview was dropped, not retried after
