"""Bot pieces that need no Telegram: message splitting, translations, documents."""

from __future__ import annotations

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES, _source_dir, build_i18n
from bot.legal import DOCUMENTS, VERSIONS, text
from bot.replies import MESSAGE_LIMIT, split_message, utf16_len


def test_split_keeps_everything_under_the_limit_at_natural_boundaries() -> None:
    paragraph = "Это предложение про кота Бублика и его любовь к сметане. " * 40
    text_in = "\n\n".join([paragraph] * 5) + " 🙂" * 600  # emoji are two UTF-16 units each
    pieces = split_message(text_in)
    assert len(pieces) > 1
    assert all(utf16_len(p) <= MESSAGE_LIMIT for p in pieces)
    assert "".join(p.replace(" ", "").replace("\n", "") for p in pieces) == text_in.replace(" ", "").replace(
        "\n", ""
    )
    assert all(p.endswith((".", "🙂")) for p in pieces[:-1])


def test_a_message_exactly_at_the_limit_is_one_piece() -> None:
    assert split_message("я" * MESSAGE_LIMIT) == ["я" * MESSAGE_LIMIT]
    assert split_message("   ") == []


def _code_msgids() -> set[str]:
    return {
        msg
        for _, _, msg, _, _ in extract_from_dir("bot", method_map=[("**.py", "python")], keywords={"_": None})
    }


def test_every_text_in_the_code_has_a_russian_translation() -> None:
    with (_source_dir() / "ru" / "LC_MESSAGES" / "dora.po").open("rb") as f:
        catalog = read_po(f, locale="ru")
    translated = {m.id for m in catalog if m.id and m.string}
    assert _code_msgids() - translated == set()


def test_catalogs_compile_and_translate(tmp_path) -> None:
    i18n = build_i18n(tmp_path)
    assert set(i18n.available_locales) >= set(LOCALES)
    with i18n.context(), i18n.use_locale("ru"):
        assert i18n.gettext("Cancel") == "Отмена"
    with i18n.context(), i18n.use_locale("en"):
        assert i18n.gettext("Cancel") == "Cancel"


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_documents_exist_fit_in_a_message_and_carry_their_version(document: str, lang: str) -> None:
    body = text(document, lang)
    assert utf16_len(body) <= MESSAGE_LIMIT
    day = VERSIONS[document].split("-")[2].lstrip("0")
    assert day in body.split("\n", 3)[2]


def test_the_bot_keeps_parsed_response_types_between_requests(tmp_path) -> None:
    """pydantic holds parametrized generics only weakly: without the bot's own reference, aiogram's
    ``Response[User]`` is garbage-collected after a request and built again (schema, validator) for
    the next one, on the event loop."""
    import asyncio
    import gc
    import weakref

    from aiogram.methods.base import Response
    from aiogram.types import User

    from bot.app import build_bot
    from dora.config import Settings
    from dora.wiring.bot import telegram_config
    from testkit.botapi import DEFAULT_TOKEN, BotAPIServer

    with BotAPIServer() as server:
        settings = Settings(
            data_dir=tmp_path, telegram_token=DEFAULT_TOKEN, telegram_api_base=server.base_url
        )
        built = weakref.ref(Response[User])  # what pydantic has cached, held here weakly only

        async def ask() -> str:
            bot = build_bot(telegram_config(settings))
            try:
                return (await bot.get_me()).username or ""
            finally:
                await bot.session.close()

        assert asyncio.run(ask())
        gc.collect()
        assert built() is not None, "Response[User] was collected: the next request rebuilds it"
