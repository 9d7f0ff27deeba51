"""The bot's own assembly: a Bot session, the Dispatcher with its middlewares and routers, and the
two ways to receive updates (long polling, a webhook). What it runs on (database, Redis, the
companion) is opened by the application's root, which hands over a :class:`~bot.deps.BotDeps`."""

from __future__ import annotations

import asyncio
import logging
import traceback
from contextlib import suppress

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import DisabledEventIsolation, MemoryStorage
from aiogram.types import BotCommand, ErrorEvent
from aiogram.utils.i18n import gettext as _
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from redis.asyncio import Redis

from bot.config import TelegramConfig
from bot.deps import BotDeps
from bot.i18n import build_i18n
from bot.middlewares.account import AccountMiddleware
from bot.middlewares.channel import RequiredChannelMiddleware
from bot.middlewares.consent import ConsentMiddleware
from bot.middlewares.ordering import PerUserOrderingMiddleware
from bot.middlewares.response_types import KeepResponseTypes
from bot.middlewares.retry import TelegramRetryMiddleware
from bot.middlewares.throttling import LocalRateWindow, RateWindow, RedisRateWindow, ThrottlingMiddleware
from bot.routers import chat, feedback, guards, memory, personas, presence, pro, start

log = logging.getLogger(__name__)

COMMANDS = {
    "ru": [
        ("persona", "Выбрать собеседника"),
        ("memory", "Что я о тебе помню"),
        ("export", "Выгрузить мои данные"),
        ("forget", "Удалить всё обо мне"),
        ("pro", "Подписка PRO"),
        ("checkins", "Писать ли мне первой"),
        ("timezone", "Мой часовой пояс"),
        ("share_for_training", "Помогать учить модель"),
        ("lang", "Язык"),
        ("help", "Помощь"),
    ],
}


def build_bot(telegram: TelegramConfig) -> Bot:
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(telegram.api_base))
        if telegram.api_base
        else AiohttpSession()
    )
    session.middleware(TelegramRetryMiddleware())
    session.middleware(KeepResponseTypes())
    return Bot(telegram.token, session=session, default=DefaultBotProperties())


def shared_state(redis: Redis | None) -> tuple[BaseStorage, BaseEventIsolation, RateWindow]:
    """Where aiogram's FSM, its per-chat event isolation and the flood counters live: in Redis
    when several workers must share them, else in the process."""
    if redis is None:
        return MemoryStorage(), DisabledEventIsolation(), LocalRateWindow()
    from aiogram.fsm.storage.redis import DefaultKeyBuilder, RedisStorage

    storage = RedisStorage(redis, key_builder=DefaultKeyBuilder(with_bot_id=True, prefix="dora:fsm"))
    return storage, storage.create_isolation(), RedisRateWindow(redis)


def build_dispatcher(deps: BotDeps, redis: Redis | None = None) -> Dispatcher:
    storage, isolation, window = shared_state(redis)
    dp = Dispatcher(storage=storage, events_isolation=isolation)
    dp["deps"] = deps
    dp.message.outer_middleware(ThrottlingMiddleware(deps.config.throttle_messages_per_minute, window))
    dp.update.outer_middleware(PerUserOrderingMiddleware())
    dp.update.outer_middleware(AccountMiddleware(build_i18n(deps.config.data_dir)))

    gated = Router(name="gated")  # everything that needs the user's consent first
    features = (
        personas.build_router(),
        memory.build_router(),
        presence.build_router(),
        feedback.build_router(),
        chat.build_router(),
    )
    for feature in features:
        feature.message.middleware(ConsentMiddleware())
        feature.message.middleware(RequiredChannelMiddleware())
        feature.callback_query.middleware(ConsentMiddleware())
        gated.include_router(feature)
    dp.include_routers(
        guards.build_router(), start.build_router(), pro.build_router(), gated, guards.build_fallback_router()
    )

    @dp.errors()
    async def on_error(event: ErrorEvent) -> bool:
        # the type and where (files, lines): an exception's message may quote the user's text, so
        # it and the full traceback are logged at debug level only
        frames = traceback.extract_tb(event.exception.__traceback__)[-4:]
        where = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames))
        log.error("bot: an update failed (%s at %s)", type(event.exception).__name__, where)
        log.debug("bot: traceback", exc_info=event.exception)
        message = event.update.message or (
            event.update.callback_query and event.update.callback_query.message
        )
        if message is not None:
            with suppress(Exception):
                await message.answer(_("Something went wrong on my side. Please try again in a moment."))
        return True

    return dp


async def set_commands(bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS["ru"]])


async def prewarm_all(deps: BotDeps) -> None:
    """Warm every persona's prompt prefix in the background after start (local model only)."""
    for card in deps.companion.personas.list():
        await deps.companion.prewarm(card.id)


async def poll(bot: Bot, dp: Dispatcher, deps: BotDeps) -> None:
    """Long polling until SIGINT/SIGTERM; every persona's prompt is warmed meanwhile."""
    await set_commands(bot)
    warming = asyncio.create_task(prewarm_all(deps))
    await bot.delete_webhook(drop_pending_updates=False)
    try:
        await dp.start_polling(bot, handle_signals=True)
    finally:
        warming.cancel()


def webhook_app(bot: Bot, dp: Dispatcher, telegram: TelegramConfig) -> web.Application:
    """aiohttp app receiving Telegram's POSTs at the webhook URL's path; requests without the
    secret token are refused (401) by aiogram's handler. An update is acknowledged only once it
    was handled (a chat message: stored in the inbox), so one that a dying worker never stored is
    delivered again by Telegram."""
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dp, bot=bot, secret_token=telegram.webhook_secret, handle_in_background=False
    ).register(app, path=telegram.webhook_path)
    setup_application(app, dp, bot=bot)
    return app


async def serve_webhook(
    bot: Bot, dp: Dispatcher, telegram: TelegramConfig, stop: asyncio.Event, *, register: bool = True
) -> None:
    """Serve the webhook on ``telegram.webhook_listen`` (behind your HTTPS proxy) until ``stop``.
    The port is opened with SO_REUSEPORT, so several workers can share it; only one of them
    (``register``) tells Telegram the webhook URL and the command menu."""
    host, _, port = telegram.webhook_listen.rpartition(":")
    if register:
        await set_commands(bot)
        await bot.set_webhook(
            telegram.webhook_url or "",
            secret_token=telegram.webhook_secret,
            allowed_updates=dp.resolve_used_update_types(),
        )
    runner = web.AppRunner(webhook_app(bot, dp, telegram))
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_port=True).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
