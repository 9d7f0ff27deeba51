"""The Bot API test server, driven by the real aiogram client over the real wire protocol.

Later tests run the whole bot against this server, so it must answer what aiogram expects
(aiogram validates every result) and refuse what Telegram refuses; these tests pin both.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LabeledPrice,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from PIL import Image

from testkit.botapi import DEFAULT_TOKEN, BotAPIServer, parse_text, utf16_len

T = TypeVar("T")
USER = 42


@pytest.fixture
def server() -> Iterator[BotAPIServer]:
    with BotAPIServer() as srv:
        srv.add_user(USER, first_name="Аня")
        yield srv


def make_bot(server: BotAPIServer, token: str = DEFAULT_TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))


def with_bot(server: BotAPIServer, scenario: Callable[[Bot], Awaitable[T]]) -> T:
    """Run one scenario with a real aiogram Bot on a fresh event loop, closing its session."""

    async def main() -> T:
        bot = make_bot(server)
        try:
            return await scenario(bot)
        finally:
            await bot.session.close()

    return asyncio.run(main())


def png(width: int = 1000, height: int = 500) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def keyboard(*datas: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=d[:10], callback_data=d)] for d in datas]
    )


# --------------------------------------------------------------------------------------------
# Basics


def test_get_me_and_wrong_token(server: BotAPIServer) -> None:
    me = with_bot(server, lambda bot: bot.get_me())
    assert me.is_bot and me.username == "dora_test_bot" and me.id == int(DEFAULT_TOKEN.split(":")[0])

    async def wrong(bot: Bot) -> None:
        other = make_bot(server, token="987654321:AAwrongwrongwrongwrongwrongwrongwrong")
        try:
            with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
                await other.get_me()
        finally:
            await other.session.close()

    with_bot(server, wrong)
    assert server.calls("getMe")[-1].status == 401


def test_send_message_is_recorded_and_stored(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> Message:
        return await bot.send_message(
            USER,
            "  <b>Привет</b>, Аня &amp; 😀 <i>как ты?</i>\n",
            parse_mode="HTML",
            reply_markup=keyboard("ok"),
        )

    message = with_bot(server, scenario)
    # Trimmed, tags parsed, entities in UTF-16 units (😀 counts 2).
    assert message.text == "Привет, Аня & 😀 как ты?"
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [
        ("bold", 0, 6),
        ("italic", 17, 7),
    ]
    assert message.reply_markup is not None and message.from_user and message.from_user.is_bot

    [call] = server.sent_messages(USER)
    assert call.method == "sendMessage" and call.ok
    assert call.params["chat_id"] == USER and call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok"  # JSON-decoded
    assert call.text == "Привет, Аня & 😀 как ты?"
    assert server.messages(USER)[-1]["message_id"] == message.message_id


def test_message_ids_count_up_per_chat_across_user_and_bot(server: BotAPIServer) -> None:
    first = server.user_message(USER, "привет")["message"]["message_id"]
    sent = with_bot(server, lambda bot: bot.send_message(USER, "и тебе", reply_to_message_id=first))
    assert sent.message_id == first + 1
    assert sent.reply_to_message is not None and sent.reply_to_message.text == "привет"


# --------------------------------------------------------------------------------------------
# Telegram's limits and markup


def test_long_message_rejected_after_entity_parsing(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        # Tags do not count: 4096 characters of text inside <b> is fine.
        await bot.send_message(USER, "<b>" + "а" * 4096 + "</b>", parse_mode="HTML")
        # &amp; is one character.
        await bot.send_message(USER, "&amp;" * 4096, parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(USER, "а" * 4097)
        # Emoji outside the BMP are two UTF-16 units each: 2049 of them are 4098 units.
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(USER, "😀" * 2049)
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(USER, "   \n ")
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(USER, "<b> </b>", parse_mode="HTML")

    with_bot(server, scenario)
    assert len(server.sent_messages(USER)) == 2
    assert [c.error for c in server.calls("sendMessage") if not c.ok] == [
        "Bad Request: message is too long",
        "Bad Request: message is too long",
        "Bad Request: message text is empty",
        "Bad Request: message text is empty",
    ]


def test_html_parse_errors_like_telegram(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        with pytest.raises(
            TelegramBadRequest, match='can\'t parse entities: Unsupported start tag "br" at byte offset 5'
        ):
            await bot.send_message(USER, "line1<br>line2", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match='Can\'t find end tag corresponding to start tag "b"'):
            await bot.send_message(USER, "<b>жирный", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match='Unmatched end tag at byte offset 7, expected "</i>"'):
            await bot.send_message(USER, "<b><i>x</b></i>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
            await bot.send_message(USER, "1 < 2 and a<b", parse_mode="HTML")
        # Escaped it is fine, and unknown entities stay literal.
        ok = await bot.send_message(USER, "1 &lt; 2 &nbsp;", parse_mode="HTML")
        assert ok.text == "1 < 2 &nbsp;"

    with_bot(server, scenario)


def test_markdown_v2_reserved_characters(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
            await bot.send_message(USER, "Привет. Как дела?", parse_mode="MarkdownV2")
        with pytest.raises(TelegramBadRequest, match="Can't find end of Bold entity at byte offset 0"):
            await bot.send_message(USER, "*жирный", parse_mode="MarkdownV2")
        ok = await bot.send_message(
            USER, r"*Привет*\. [сайт](https://example.com) __u__", parse_mode="MarkdownV2"
        )
        assert ok.text == "Привет. сайт u"
        assert [e.type for e in ok.entities or []] == ["bold", "text_link", "underline"]

    with_bot(server, scenario)


def test_parse_text_directly() -> None:
    text, entities = parse_text('<pre><code class="language-python">x = 1</code></pre>', "HTML")
    assert text == "x = 1" and entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]
    text, entities = parse_text("*bold* _it_ `code`", "Markdown")
    assert text == "bold it code" and [e["type"] for e in entities] == ["bold", "italic", "code"]
    assert utf16_len("a😀б") == 4


def test_caption_and_callback_data_limits(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.send_photo(USER, BufferedInputFile(png(), "p.png"), caption="я" * 1025)
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(USER, "выбери", reply_markup=keyboard("я" * 33))  # 66 bytes
        await bot.send_message(USER, "выбери", reply_markup=keyboard("x" * 64))

    with_bot(server, scenario)


def test_edit_message_rules(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        sent = await bot.send_message(USER, "черновик", reply_markup=keyboard("a"))
        edited = await bot.edit_message_text(
            "готово", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("a")
        )
        assert isinstance(edited, Message) and edited.text == "готово" and edited.edit_date
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(
                "готово", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("a")
            )
        # Dropping the keyboard is a change.
        await bot.edit_message_text("готово", chat_id=USER, message_id=sent.message_id)
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=999)
        user_msg = server.user_message(USER, "моё")["message"]["message_id"]
        with pytest.raises(TelegramBadRequest, match="message can't be edited"):
            await bot.edit_message_text("x", chat_id=USER, message_id=user_msg)
        await bot.edit_message_reply_markup(
            chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("b")
        )
        assert await bot.delete_message(USER, sent.message_id)
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(USER, sent.message_id)

    with_bot(server, scenario)
    assert [m["text"] for m in server.messages(USER)] == ["моё"]


def test_unknown_chat_is_chat_not_found(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(777, "кто ты?")

    with_bot(server, scenario)


# --------------------------------------------------------------------------------------------
# Faults


def test_fail_next_429_then_recovers(server: BotAPIServer) -> None:
    server.fail_next("sendMessage", status=429, retry_after=2)

    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramRetryAfter) as info:
            await bot.send_message(USER, "раз")
        assert info.value.retry_after == 2
        await bot.send_message(USER, "два")

    with_bot(server, scenario)
    first, second = server.calls("sendMessage")
    assert first.status == 429 and first.response["parameters"] == {"retry_after": 2}
    assert second.ok and [c.text for c in server.sent_messages()] == ["два"]


def test_fail_next_500_times(server: BotAPIServer) -> None:
    server.fail_next("sendChatAction", status=500, times=2)

    async def scenario(bot: Bot) -> None:
        for _ in range(2):
            with pytest.raises(TelegramServerError):
                await bot.send_chat_action(USER, "typing")
        assert await bot.send_chat_action(USER, "typing")

    with_bot(server, scenario)


def test_blocked_user_is_forbidden(server: BotAPIServer) -> None:
    server.block_user(USER, notify=True)

    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(USER, "ты тут?")
        updates = await bot.get_updates()
        member = updates[-1].my_chat_member
        assert member is not None and member.new_chat_member.status == "kicked"

    with_bot(server, scenario)
    assert server.calls("sendMessage")[0].status == 403


def test_unknown_method_is_404_and_recorded(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramNotFound, match="Not Found"):
            await bot.send_dice(USER)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{server.base_url}/bot{server.token}/frobnicate", json={"x": 1}) as resp,
        ):
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}

    with_bot(server, scenario)
    assert [(c.method, c.status) for c in server.calls()[-2:]] == [("sendDice", 404), ("frobnicate", 404)]
    assert server.calls("frobnicate")[0].params == {"x": 1}


# --------------------------------------------------------------------------------------------
# Updates


def test_get_updates_long_poll_offset_and_allowed_updates(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == []
        assert 0.9 <= time.monotonic() - started < 2

        threading.Timer(0.3, server.user_message, args=(USER, "ау")).start()
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5)
        assert time.monotonic() - started < 2  # returned when the update came, not after 5 s
        assert [u.message.text for u in updates if u.message] == ["ау"]

        # Unconfirmed updates come again; a higher offset confirms them.
        assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
        assert await bot.get_updates(offset=updates[-1].update_id + 1) == []
        assert server.pending_updates() == []

        # allowed_updates sticks and applies to updates created after it.
        await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=["message"])
        server.user_message(USER, "текст")
        sent = await bot.send_message(USER, "кнопка", reply_markup=keyboard("go"))
        server.user_callback(USER, "go", sent.message_id)
        got = await bot.get_updates(offset=updates[-1].update_id + 1)
        assert [u.message.text for u in got if u.message] == ["текст"] and len(got) == 1
        assert len(server.dropped_updates) == 1 and "callback_query" in server.dropped_updates[0]

    with_bot(server, scenario)


def test_second_poller_conflicts_and_webhook_blocks_polling(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        assert await bot.get_updates(timeout=0) == []
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await first
        assert await bot.set_webhook("https://example.com/hook")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates() == []

    with_bot(server, scenario)
    assert server.webhook is None


def test_stop_ends_long_polls_and_restart_keeps_the_port() -> None:
    server = BotAPIServer().start()
    port = server.port

    async def scenario() -> None:
        bot = make_bot(server)
        try:
            poll = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await asyncio.to_thread(server.stop)
            assert await poll == [] and time.monotonic() - started < 3
            with pytest.raises(TelegramNetworkError):  # an outage: connection refused
                await bot.get_me()
            await asyncio.to_thread(server.start)
            assert server.port == port and (await bot.get_me()).is_bot
        finally:
            await bot.session.close()
            server.stop()

    asyncio.run(scenario())


def test_voice_get_file_and_download(server: BotAPIServer) -> None:
    ogg = b"OggS\x00\x02" + bytes(range(256)) * 8
    update = server.user_voice(USER, ogg, duration=3)

    async def scenario(bot: Bot) -> bytes:
        [got] = await bot.get_updates()
        assert got.update_id == update["update_id"]
        assert got.message is not None and got.message.voice is not None
        file = await bot.get_file(got.message.voice.file_id)
        assert file.file_path and file.file_path.startswith("voice/") and file.file_size == len(ogg)
        data = await bot.download(got.message.voice)
        assert data is not None
        return data.read()

    assert with_bot(server, scenario) == ogg
    assert server.calls("downloadFile")[0].ok


def test_other_user_update_helpers_validate_in_aiogram(server: BotAPIServer) -> None:
    server.user_document(USER, b"%PDF-1.4", "doc.pdf", caption="смотри")
    server.user_sticker(USER, "😂")
    server.user_location(USER, 55.75, 37.62)
    server.user_contact(USER, "+79990000000", contact_user_id=USER)
    server.user_video_note(USER, b"\x00\x00\x00\x18ftypmp4", duration=5)
    server.user_photo(USER, png(100, 80))
    first = server.user_command(USER, "/start", "ref_123")
    server.edited_message(USER, first["message"]["message_id"], "/start")
    server.group_message(USER, "всем привет")
    server.refunded_payment(USER, "sub", 50, "charge-1")

    async def scenario(bot: Bot) -> None:
        updates = await bot.get_updates()
        messages = [u.message for u in updates if u.message]
        assert messages[0].document and messages[0].document.file_name == "doc.pdf"
        assert messages[1].sticker and messages[1].sticker.emoji == "😂"
        assert messages[2].location and messages[2].location.latitude == 55.75
        assert messages[3].contact and messages[3].contact.user_id == USER
        assert messages[4].video_note and messages[4].video_note.duration == 5
        assert messages[5].photo and [(p.width, p.height) for p in messages[5].photo] == [(90, 72), (100, 80)]
        assert messages[6].text == "/start ref_123" and messages[6].entities
        assert messages[6].entities[0].type == "bot_command" and messages[6].entities[0].length == 6
        assert messages[7].chat.type == "supergroup" and messages[7].chat.id < 0
        assert (
            messages[8].refunded_payment
            and messages[8].refunded_payment.telegram_payment_charge_id == "charge-1"
        )
        edited = [u.edited_message for u in updates if u.edited_message]
        assert edited and edited[0].text == "/start" and edited[0].edit_date

    with_bot(server, scenario)


def test_callback_query_and_answer(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        sent = await bot.send_message(USER, "выбери", reply_markup=keyboard("yes", "no"))
        update = server.user_callback(USER, "yes")  # the latest message with a keyboard
        with pytest.raises(ValueError, match="no button"):
            server.user_callback(USER, "maybe", sent.message_id)
        [got] = await bot.get_updates()
        query = got.callback_query
        assert query is not None and query.data == "yes" and query.id == update["callback_query"]["id"]
        assert isinstance(query.message, Message) and query.message.message_id == sent.message_id
        assert await bot.answer_callback_query(query.id, text="Принято")
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(query.id)
        assert server.callback_answer(query.id) == {"text": "Принято"}

    with_bot(server, scenario)


# --------------------------------------------------------------------------------------------
# Files out, payments, membership, commands


def test_send_photo_upload_file_id_and_url(server: BotAPIServer) -> None:
    image = png()

    async def scenario(bot: Bot) -> None:
        sent = await bot.send_photo(
            USER, BufferedInputFile(image, "portrait.png"), caption="<i>я</i>", parse_mode="HTML"
        )
        assert sent.photo and [(p.width, p.height) for p in sent.photo] == [
            (90, 45),
            (320, 160),
            (800, 400),
            (1000, 500),
        ]
        assert sent.caption == "я" and sent.caption_entities and sent.caption_entities[0].type == "italic"
        again = await bot.send_photo(USER, sent.photo[-1].file_id)
        assert again.photo and again.photo[-1].file_id == sent.photo[-1].file_id
        await bot.send_photo(USER, "https://example.com/cat.jpg")
        with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
            await bot.send_photo(USER, "no-such-file-id")
        with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
            await bot.send_photo(USER, BufferedInputFile(b"not an image", "x.jpg"))
        downloaded = await bot.download(sent.photo[-1].file_id)
        assert downloaded is not None and downloaded.read() == image
        media = await bot.edit_message_media(
            InputMediaPhoto(media=BufferedInputFile(png(64, 64), "new.png"), caption="новое"),
            chat_id=USER,
            message_id=sent.message_id,
        )
        assert isinstance(media, Message) and media.caption == "новое" and media.photo
        assert media.photo[-1].width == 64

    with_bot(server, scenario)
    upload = server.calls("sendPhoto")[0]
    assert upload.files["photo"] == image and upload.filenames["photo"] == "portrait.png"
    assert upload.params["photo"].startswith("attach://")
    assert server.calls("sendPhoto")[2].params["photo"] == "https://example.com/cat.jpg"
    assert server.calls("editMessageMedia")[0].params["media"]["type"] == "photo"


def test_send_document_records_bytes_and_filename(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        sent = await bot.send_document(
            USER, BufferedInputFile("память".encode(), "memory.txt"), caption="выгрузка"
        )
        assert (
            sent.document
            and sent.document.file_name == "memory.txt"
            and sent.document.mime_type == "text/plain"
        )

    with_bot(server, scenario)
    call = server.calls("sendDocument")[0]
    assert call.files["document"] == "память".encode() and call.filenames["document"] == "memory.txt"


def test_stars_invoice_checkout_payment_refund(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        invoice = await bot.send_invoice(
            USER, "Подписка", "Месяц общения", "sub:month", "XTR", [LabeledPrice(label="Месяц", amount=250)]
        )
        assert invoice.invoice and invoice.invoice.currency == "XTR" and invoice.invoice.total_amount == 250
        with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
            await bot.send_invoice(
                USER,
                "x",
                "y",
                "p",
                "XTR",
                [LabeledPrice(label="a", amount=1), LabeledPrice(label="b", amount=2)],
            )
        link = await bot.create_invoice_link(
            "Подписка", "Месяц", "sub:month", "XTR", [LabeledPrice(label="М", amount=1)]
        )
        assert link.startswith("https://t.me/$")

        query = server.pre_checkout_query(USER, "sub:month", 250)["pre_checkout_query"]
        [got] = await bot.get_updates()
        assert got.pre_checkout_query and got.pre_checkout_query.invoice_payload == "sub:month"
        assert await bot.answer_pre_checkout_query(query["id"], ok=True)
        with pytest.raises(TelegramBadRequest, match="QUERY_ID_INVALID"):
            await bot.answer_pre_checkout_query(query["id"], ok=True)
        assert server.pre_checkout_answer(query["id"]) == {"ok": True, "error_message": None}

        server.successful_payment(USER, "sub:month", 250, "charge-42")
        updates = await bot.get_updates(offset=got.update_id + 1)
        payment = updates[0].message.successful_payment if updates[0].message else None
        assert payment and payment.telegram_payment_charge_id == "charge-42" and payment.total_amount == 250
        assert await bot.refund_star_payment(USER, "charge-42")
        with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
            await bot.refund_star_payment(USER, "charge-42")
        transactions = (await bot.get_star_transactions()).transactions
        assert [(t.id, t.amount, t.source is not None, t.receiver is not None) for t in transactions] == [
            ("charge-42", 250, True, False),
            ("charge-42", 250, False, True),
        ]

    with_bot(server, scenario)
    [call] = [c for c in server.calls("sendInvoice") if c.ok]
    assert call.params["currency"] == "XTR" and call.params["prices"] == [{"label": "Месяц", "amount": 250}]
    assert call.params["payload"] == "sub:month"


def test_chat_member_and_commands(server: BotAPIServer) -> None:
    channel = -1002000000000
    server.set_chat_member(channel, USER, "member")
    server.add_user(43)

    async def scenario(bot: Bot) -> None:
        assert (await bot.get_chat_member(channel, USER)).status == "member"
        assert (await bot.get_chat_member(channel, 43)).status == "left"
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.get_chat_member(-100999, USER)
        from aiogram.types import BotCommand

        assert await bot.set_my_commands([BotCommand(command="start", description="Начать")])
        assert [c.command for c in await bot.get_my_commands()] == ["start"]
        with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
            await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])

    with_bot(server, scenario)


# --------------------------------------------------------------------------------------------
# A real Dispatcher, polling


def test_dispatcher_polls_and_answers_start(server: BotAPIServer) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(f"Привет, {message.from_user.first_name if message.from_user else 'друг'}!")

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("ок")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)

    async def main() -> Any:
        bot = make_bot(server)
        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1))
        update = server.user_command(USER, "/start")
        reply = await server.wait_for_async(
            lambda c: c.method == "sendMessage" and c.ok and c.params["chat_id"] == USER, timeout=10
        )
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, 5)
        return update, reply

    update, reply = asyncio.run(main())
    assert reply.text == "Привет, Аня!"
    assert reply.result["message_id"] == update["message"]["message_id"] + 1
    # The poller asked only for the update types its handlers use.
    assert sorted(server.calls("getUpdates")[0].params["allowed_updates"]) == ["callback_query", "message"]


def test_wait_for_times_out_with_what_was_called(server: BotAPIServer) -> None:
    with_bot(server, lambda bot: bot.get_me())
    mark = server.mark()
    with pytest.raises(TimeoutError, match=r"getMe\(ok\)|got: none"):
        server.wait_for("sendMessage", timeout=0.2)
    with pytest.raises(TimeoutError, match="got: none"):
        server.wait_for("getMe", timeout=0.1, since=mark)
    server.clear()
    assert server.calls() == []


# --------------------------------------------------------------------------------------------
# Webhooks: the server POSTs updates, as Telegram does


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """``app`` on a free loopback port; the runner (to clean up) and its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def test_webhook_url_rules(server: BotAPIServer) -> None:
    async def scenario(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
            await bot.set_webhook("http://example.com/hook")  # plain http only on loopback
        with pytest.raises(TelegramBadRequest, match="secret token"):
            await bot.set_webhook("https://example.com/hook", secret_token="no spaces allowed")
        # Another host is accepted like on Telegram but never called: its updates stay queued.
        assert await bot.set_webhook("https://example.com/hook", max_connections=5)
        server.user_message(USER, "привет")
        await asyncio.sleep(0.3)
        info = await bot.get_webhook_info()
        assert info.url == "https://example.com/hook" and info.max_connections == 5
        assert info.pending_update_count == 1 and info.last_error_message is None
        assert server.webhook_deliveries() == []  # nothing tried to leave the machine
        assert await bot.set_webhook("https://example.com/hook", max_connections=5)  # the same again: fine
        assert await bot.set_webhook("http://localhost:9/hook", drop_pending_updates=True)  # loopback: http

    with_bot(server, scenario)


def test_webhook_delivery_with_secret_and_retries(server: BotAPIServer) -> None:
    server.webhook_retry_s = 0.05
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(status=500 if len(received) == 1 else 200)  # fails once, then takes it

    async def scenario(bot: Bot) -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner, base = await _serve(app)
        try:
            assert await bot.set_webhook(f"{base}/hook", secret_token="s3cret_token-1")
            update = server.user_message(USER, "привет")
            deadline = time.monotonic() + 5
            while len(received) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            info = await bot.get_webhook_info()
        finally:
            await runner.cleanup()
        assert [body["update_id"] for body, _ in received] == [update["update_id"]] * 2
        assert received[0][0]["message"]["text"] == "привет"
        assert {secret for _, secret in received} == {"s3cret_token-1"}
        assert info.pending_update_count == 0  # delivered: it left the queue
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"

    with_bot(server, scenario)
    assert [d.status for d in server.webhook_deliveries()] == [500, 200]


def test_webhook_refused_keeps_updates_until_polling_again(server: BotAPIServer) -> None:
    server.webhook_retry_s = 0.05
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"

    async def scenario(bot: Bot) -> None:
        assert await bot.set_webhook(dead)
        server.user_message(USER, "раз")
        await asyncio.sleep(0.4)
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1 and info.last_error_message == "Connection refused"
        assert await bot.delete_webhook()
        [got] = await bot.get_updates()
        assert got.message is not None and got.message.text == "раз"

    with_bot(server, scenario)
    assert len(server.webhook_deliveries()) >= 2 and {d.status for d in server.webhook_deliveries()} == {0}


def test_dispatcher_in_webhook_mode_gets_each_chat_in_order(server: BotAPIServer) -> None:
    """aiogram's own webhook handler, with its secret check, receives what the server POSTs; a chat's
    updates arrive in the order they were sent (aiogram then handles them concurrently)."""
    router = Router()
    arrived: dict[int, list[str]] = {}

    @router.message()
    async def echo(message: Message) -> None:
        arrived.setdefault(message.chat.id, []).append(message.text or "")
        await message.answer(f"эхо {message.text}")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    users = [USER, USER + 1, USER + 2]

    async def scenario(bot: Bot) -> None:
        app = web.Application()
        SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token="s3cret").register(app, path="/tg")
        runner, base = await _serve(app)
        try:
            assert await bot.set_webhook(
                f"{base}/tg", secret_token="s3cret", allowed_updates=dispatcher.resolve_used_update_types()
            )
            for n in range(1, 6):
                for user in users:
                    server.user_message(user, f"сообщение {n}")
            deadline = time.monotonic() + 10
            while len(server.sent_messages()) < 15 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            await runner.cleanup()

    with_bot(server, scenario)
    expected = [f"сообщение {n}" for n in range(1, 6)]
    assert arrived == {user: expected for user in users}
    for user in users:
        assert sorted(c.text or "" for c in server.sent_messages(user)) == [f"эхо {t}" for t in expected]
    assert server.pending_updates() == [] and {d.status for d in server.webhook_deliveries()} == {200}


def test_a_users_reactions_reach_only_a_bot_that_asked_for_them(server: BotAPIServer) -> None:
    """``message_reaction`` is not among the default update types: Telegram sends it only to a bot
    that names it in ``allowed_updates``; the update carries the user's previous reactions too."""

    async def scenario(bot: Bot) -> None:
        sent = await bot.send_message(USER, "ответ")
        server.user_reaction(USER, sent.message_id, "👍")  # allowed_updates never set: dropped
        assert await bot.get_updates(timeout=0) == []
        assert "message_reaction" in server.dropped_updates[-1]

        await bot.get_updates(timeout=0, allowed_updates=["message", "message_reaction"])
        server.user_reaction(USER, sent.message_id, "👎")
        server.user_reaction(USER, sent.message_id, None)
        got = await bot.get_updates(timeout=0)
        first, second = (u.message_reaction for u in got)
        assert first is not None and second is not None
        assert [r.emoji for r in first.old_reaction] == ["👍"] and [r.emoji for r in first.new_reaction] == [
            "👎"
        ]
        assert [r.emoji for r in second.old_reaction] == ["👎"] and second.new_reaction == []
        assert first.user is not None and first.user.id == USER and first.message_id == sent.message_id
        with pytest.raises(KeyError):
            server.user_reaction(USER, 999_999, "👍")  # no such message

    with_bot(server, scenario)
