"""The bot wired in one place: settings → Bot, Dispatcher, middlewares, routers; polling or webhook."""

from __future__ import annotations

import asyncio
import logging
import signal
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

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
from langchain_core.language_models import BaseChatModel
from redis.asyncio import Redis
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from agent.graph import Role
from bot.conversation import Conversations
from bot.db.engine import create_engine_and_sessions, database_url, migrate
from bot.db.inbox import Inbox
from bot.db.repo import Accounts
from bot.deps import BotDeps, agent_user_id
from bot.errors import TokenMissingError
from bot.i18n import build_i18n
from bot.middlewares.account import AccountMiddleware
from bot.middlewares.channel import RequiredChannelMiddleware
from bot.middlewares.consent import ConsentMiddleware
from bot.middlewares.ordering import PerUserOrderingMiddleware
from bot.middlewares.response_types import KeepResponseTypes
from bot.middlewares.retry import TelegramRetryMiddleware
from bot.middlewares.throttling import LocalRateWindow, RateWindow, RedisRateWindow, ThrottlingMiddleware
from bot.routers import chat, guards, memory, personas, pro, start
from dora.config import Settings
from dora.wiring import build_locks, open_companion, open_redis, unavailable
from memory.crypto import UserCipher
from memory.store import MemoryStore

log = logging.getLogger(__name__)

COMMANDS = {
    "ru": [
        ("persona", "Выбрать собеседника"),
        ("memory", "Что я о тебе помню"),
        ("export", "Выгрузить мои данные"),
        ("forget", "Удалить всё обо мне"),
        ("pro", "Подписка PRO"),
        ("lang", "Язык"),
        ("help", "Помощь"),
    ],
}


def build_bot(settings: Settings) -> Bot:
    if settings.telegram_token is None:
        raise TokenMissingError("set DORA_TELEGRAM_TOKEN to your bot's token from @BotFather")
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
        if settings.telegram_api_base
        else AiohttpSession()
    )
    session.middleware(TelegramRetryMiddleware())
    session.middleware(KeepResponseTypes())
    return Bot(settings.telegram_token.get_secret_value(), session=session, default=DefaultBotProperties())


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
    dp.message.outer_middleware(ThrottlingMiddleware(deps.settings.throttle_messages_per_minute, window))
    dp.update.outer_middleware(PerUserOrderingMiddleware())
    dp.update.outer_middleware(AccountMiddleware(build_i18n(deps.settings.data_dir)))

    gated = Router(name="gated")  # everything that needs the user's consent first
    for feature in (personas.build_router(), memory.build_router(), chat.build_router()):
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


@asynccontextmanager
async def running_bot(
    settings: Settings,
    *,
    memory: MemoryStore | None = None,
    llm_for: Callable[[Role], BaseChatModel] | None = None,
    drain_timeout_s: float | None = 120.0,
) -> AsyncIterator[tuple[Bot, Dispatcher, BotDeps]]:
    """Everything the bot needs, opened and closed in order (database, agent, Telegram session).
    ``memory`` and ``llm_for`` replace the configured ones (tests pass a fake LLM); at the end,
    background memory work gets ``drain_timeout_s`` (what is left stays pending for next time)."""
    bot = build_bot(settings)  # a missing token fails before anything is created
    url = database_url(settings)
    try:
        await migrate(url)
    except (OSError, SQLAlchemyOperationalError) as exc:
        await bot.session.close()
        if settings.postgres_url:
            raise unavailable("PostgreSQL", settings.postgres_url, "DORA_POSTGRES_URL", exc) from exc
        raise
    engine, sessions = create_engine_and_sessions(url)
    accounts = Accounts(sessions)
    try:
        async with (
            open_redis(settings) as redis,
            open_companion(
                settings,
                memory=memory,
                llm_for=llm_for,
                locks=build_locks(redis, settings),
                drain_timeout_s=drain_timeout_s,
            ) as companion,
        ):
            await companion.warm_up()  # before the first update: not in a user's turn

            async def blocked(chat_id: int) -> None:
                await accounts.mark_blocked(chat_id, True)

            async def minor(account_id: int) -> None:
                await accounts.mark_minor(account_id)

            async def crisis(account_id: int, label: str, tier: str, persona_id: str) -> None:
                await accounts.record_event(account_id, f"crisis_{label}", kind=tier, persona_id=persona_id)

            def cipher_for(account_id: int) -> UserCipher:
                cipher = companion.keyring.cipher(agent_user_id(account_id))
                assert cipher is not None
                return cipher

            conversations = Conversations(
                bot,
                companion,
                Inbox(sessions, cipher_for),
                on_blocked=blocked,
                locks=build_locks(redis, settings),
                on_minor=minor,
                on_crisis=crisis,
            )
            deps = BotDeps(
                settings=settings, accounts=accounts, companion=companion, conversations=conversations
            )
            dp = build_dispatcher(deps, redis)
            every = settings.recover_every_s
            recovering = asyncio.create_task(conversations.recover(every_s=every, older_than_s=every))
            try:
                yield bot, dp, deps
            finally:
                recovering.cancel()
                await conversations.idle()  # the Redis client closes with open_redis, after the agent
    finally:
        await bot.session.close()
        await engine.dispose()


async def set_commands(bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS["ru"]])


async def prewarm_all(deps: BotDeps) -> None:
    """Warm every persona's prompt prefix in the background after start (local model only)."""
    for card in deps.companion.deps.personas.list():
        await deps.companion.prewarm(card.id)


async def run_polling(settings: Settings) -> None:
    async with running_bot(settings) as (bot, dp, deps):
        await set_commands(bot)
        warming = asyncio.create_task(prewarm_all(deps))
        await bot.delete_webhook(drop_pending_updates=False)
        try:
            await dp.start_polling(bot, handle_signals=True)
        finally:
            warming.cancel()


def webhook_app(bot: Bot, dp: Dispatcher, settings: Settings) -> web.Application:
    """aiohttp app receiving Telegram's POSTs at the webhook URL's path; requests without the
    secret token are refused (401) by aiogram's handler. An update is acknowledged only once it
    was handled (a chat message: stored in the inbox), so one that a dying worker never stored is
    delivered again by Telegram."""
    secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret, handle_in_background=False).register(
        app, path=webhook_path(settings)
    )
    setup_application(app, dp, bot=bot)
    return app


def webhook_path(settings: Settings) -> str:
    return urlsplit(settings.telegram_webhook_url or "").path or "/telegram"


async def run_webhook(
    settings: Settings,
    stop: asyncio.Event | None = None,
    register: bool = True,
    *,
    llm_for: Callable[[Role], BaseChatModel] | None = None,
    drain_timeout_s: float | None = 120.0,
) -> None:
    """Serve the webhook on DORA_TELEGRAM_WEBHOOK_LISTEN (behind your HTTPS proxy) until ``stop`` or
    SIGTERM. The port is opened with SO_REUSEPORT, so several workers can share it; only one of
    them (``register``) tells Telegram the webhook URL and the command menu. ``llm_for`` and
    ``drain_timeout_s`` as in :func:`running_bot` (``dora bench bot`` passes its stand-in LLM)."""
    host, _, port = settings.telegram_webhook_listen.rpartition(":")
    stop = stop or asyncio.Event()
    with suppress(NotImplementedError, RuntimeError):  # no signal handlers off the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_bot(settings, llm_for=llm_for, drain_timeout_s=drain_timeout_s) as (bot, dp, _deps):
        if register:
            await set_commands(bot)
            secret = settings.telegram_webhook_secret
            await bot.set_webhook(
                settings.telegram_webhook_url or "",
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=dp.resolve_used_update_types(),
            )
        runner = web.AppRunner(webhook_app(bot, dp, settings))
        await runner.setup()
        await web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_port=True).start()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


async def run(settings: Settings, worker_index: int = 0) -> None:
    """`dora bot`: webhook mode when DORA_TELEGRAM_WEBHOOK_URL is set, long polling otherwise.
    ``worker_index`` > 0: one of several webhook workers (see :mod:`bot.workers`)."""
    if settings.telegram_webhook_url:
        await run_webhook(settings, register=worker_index == 0)
    else:
        await run_polling(settings)
