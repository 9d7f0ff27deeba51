"""The Telegram bot from :class:`Settings`: its database, Redis, the companion and the bot's own
pieces, opened and closed in order; then long polling or a webhook."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from agent.llm.roles import Role
from bot.app import build_bot, build_dispatcher, poll, serve_webhook
from bot.checkins import CheckinSender
from bot.config import BotConfig, TelegramConfig
from bot.conversation import Conversations
from bot.db.engine import create_engine_and_sessions, migrate
from bot.db.feedback import Feedback
from bot.db.inbox import Inbox
from bot.db.repo import Accounts
from bot.deps import BotDeps
from bot.feedback import FeedbackKeeper
from bot.identity import agent_user_id
from bot.streaming import StreamOptions
from common.errors import ModelMissingError
from dora.config import Settings
from dora.errors import TokenMissingError
from dora.wiring.agent import open_companion
from dora.wiring.llm import chat_model_name
from dora.wiring.media import build_transcriber
from dora.wiring.services import build_locks, open_redis, unavailable
from memory.crypto import UserCipher
from memory.store import MemoryStore

if TYPE_CHECKING:
    from tools.speech import Transcriber

log = logging.getLogger(__name__)

SQLITE_FILE = "bot.sqlite"


def database_url(settings: Settings) -> str:
    """The async SQLAlchemy URL: ``postgres_url`` with the psycopg driver, else ``DATA_DIR/bot.sqlite``."""
    if settings.postgres_url:
        url = make_url(settings.postgres_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    path = (settings.data_dir / SQLITE_FILE).resolve()
    return f"sqlite+aiosqlite:///{path}"


def bot_config(settings: Settings) -> BotConfig:
    return BotConfig(
        data_dir=settings.data_dir,
        throttle_messages_per_minute=settings.throttle_messages_per_minute,
        required_channel=settings.required_channel,
        free_partner_daily_messages=settings.free_partner_daily_messages,
        pro_days=settings.pro_days,
        pro_price_stars=settings.pro_price_stars,
        voice_max_seconds=settings.voice_max_seconds,
    )


def telegram_config(settings: Settings) -> TelegramConfig:
    if settings.telegram_token is None:
        raise TokenMissingError("set DORA_TELEGRAM_TOKEN to your bot's token from @BotFather")
    secret = settings.telegram_webhook_secret
    return TelegramConfig(
        token=settings.telegram_token.get_secret_value(),
        api_base=settings.telegram_api_base,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=secret.get_secret_value() if secret else None,
        webhook_listen=settings.telegram_webhook_listen,
    )


def _transcriber(settings: Settings) -> Transcriber | None:
    """The voice transcriber, its folder checked now (the model loads on the first voice message).
    Without the model the bot still runs and says it can't listen to voice messages yet; the
    warning names the command that fixes it."""
    try:
        return build_transcriber(settings)
    except ModelMissingError as exc:
        log.warning("bot: voice messages are off: %s", exc)
        return None


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
    bot = build_bot(telegram_config(settings))  # a missing token fails before anything is created
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

            def cipher_for(account_id: int) -> UserCipher:
                return companion.cipher(agent_user_id(account_id))

            async def blocked(chat_id: int) -> None:
                await accounts.mark_blocked(chat_id, True)
                if companion.checkins is not None:  # no check-ins to a user who blocked the bot
                    await companion.checkins.store.set_blocked(agent_user_id(chat_id), True)

            async def checkin_event(account_id: int, name: str, reason: str, persona_id: str) -> None:
                await accounts.record_event(account_id, name, kind=reason, persona_id=persona_id)

            async def checkin_allowed(account_id: int, reason: str) -> bool:
                """DORA_CHECKINS_FREE: what a free user gets; PRO users get every check-in."""
                plan = settings.checkins_free
                if plan == "all" or (plan == "events" and reason == "event"):
                    return True
                return await accounts.is_pro(account_id, datetime.now(UTC))

            async def minor(account_id: int) -> None:
                await accounts.mark_minor(account_id)

            async def crisis(account_id: int, label: str, tier: str, persona_id: str) -> None:
                await accounts.record_event(account_id, f"crisis_{label}", kind=tier, persona_id=persona_id)

            keeper = FeedbackKeeper(
                accounts, Feedback(sessions, cipher_for), companion, chat_model_name(settings)
            )
            conversations = Conversations(
                bot,
                companion,
                Inbox(sessions, cipher_for),
                on_blocked=blocked,
                locks=build_locks(redis, settings),
                on_minor=minor,
                on_crisis=crisis,
                streaming=StreamOptions(settings.stream_replies, settings.stream_interval_s),
                on_reply=keeper.on_reply,
                rating_buttons=settings.feedback_buttons,
            )
            deps = BotDeps(
                config=bot_config(settings),
                accounts=accounts,
                companion=companion,
                conversations=conversations,
                transcriber=_transcriber(settings),
                feedback=keeper,
            )
            dp = build_dispatcher(deps, redis)
            every = settings.recover_every_s
            recovering = asyncio.create_task(conversations.recover(every_s=every, older_than_s=every))
            sender = None
            if companion.checkins is not None and settings.checkins:
                sender = CheckinSender(
                    bot,
                    companion,
                    companion.checkins,
                    build_locks(redis, settings),
                    on_event=checkin_event,
                    on_blocked=lambda chat_id: accounts.mark_blocked(chat_id, True),
                    allowed=checkin_allowed,
                )
                sender.start(settings.checkins_every_s)
            deps.checkin_sender = sender
            _freeze_start_up()
            try:
                yield bot, dp, deps
            finally:
                gc.unfreeze()  # what start-up made may be garbage now (tests start the bot many times)
                gc.set_threshold(*_DEFAULT_GC_THRESHOLDS)
                if sender is not None:
                    sender.stop()
                recovering.cancel()
                await conversations.idle()  # the Redis client closes with open_redis, after the agent
    finally:
        await bot.session.close()
        await engine.dispose()


_DEFAULT_GC_THRESHOLDS = gc.get_threshold()
YOUNG_COLLECTION_EVERY = 10_000  # allocations between young collections once running (Python: 700)


def _freeze_start_up() -> None:
    """Keep what start-up made (modules, models, tables, compiled graphs: about half a million
    objects) out of the garbage collector's scans. Each full collection walked them all, about
    0.15 s of CPU with the interpreter lock held, a few times a minute under load; none of them is
    garbage while the bot runs. Collected once first, so no garbage is frozen with them.

    Then a young collection every 10,000 allocations, not 700: a turn allocates tens of thousands
    of objects that reference counting frees anyway, and at 700 the collector ran about 200 times
    in a 200-turn load (0.25 s of CPU, plus 0.1 s of middle collections); at 10,000, 6 times
    (0.05 s). Garbage in cycles waits a little longer for the collector, nothing else changes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 10, 10)


async def run_polling(settings: Settings) -> None:
    async with running_bot(settings) as (bot, dp, deps):
        await poll(bot, dp, deps)


async def run_webhook(
    settings: Settings,
    stop: asyncio.Event | None = None,
    register: bool = True,
    *,
    llm_for: Callable[[Role], BaseChatModel] | None = None,
    drain_timeout_s: float | None = 120.0,
) -> None:
    """Serve the webhook on DORA_TELEGRAM_WEBHOOK_LISTEN until ``stop`` or SIGTERM; only the worker
    that ``register``s tells Telegram the URL. ``llm_for`` and ``drain_timeout_s`` as in
    :func:`running_bot` (``dora bench bot`` passes its stand-in LLM)."""
    stop = stop or asyncio.Event()
    with suppress(NotImplementedError, RuntimeError):  # no signal handlers off the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_bot(settings, llm_for=llm_for, drain_timeout_s=drain_timeout_s) as (bot, dp, _deps):
        await serve_webhook(bot, dp, telegram_config(settings), stop, register=register)


async def run(settings: Settings, worker_index: int = 0) -> None:
    """`dora bot`: webhook mode when DORA_TELEGRAM_WEBHOOK_URL is set, long polling otherwise.
    ``worker_index`` > 0: one of several webhook workers (see :mod:`dora.workers`)."""
    if settings.telegram_webhook_url:
        await run_webhook(settings, register=worker_index == 0)
    else:
        await run_polling(settings)
