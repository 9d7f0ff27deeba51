"""Check-ins from :class:`Settings`: their tables (beside the bot's, in the same database) and rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent.presence.checkins import CheckinRules, Checkins, ProfileOf, Sensitive
from agent.presence.store import PresenceStore
from bot.db.engine import create_engine_and_sessions
from dora.config import Settings
from memory.store import MemoryStore


def checkin_rules(settings: Settings) -> CheckinRules:
    """``DORA_CHECKINS_HOURS`` as "start-end" local hours; a malformed value is an error at start."""
    hours = settings.checkins_hours
    try:
        start, end = (int(x) for x in hours.split("-", 1))
    except ValueError:
        raise ValueError(f"DORA_CHECKINS_HOURS must look like 11-21, not {hours!r}") from None
    if not 0 <= start < end <= 24:
        raise ValueError(f"DORA_CHECKINS_HOURS must be two hours 0-24, the first smaller, not {hours!r}")
    return CheckinRules(
        enabled=settings.checkins,
        hours=(start, end),
        followup_hour=max(start, 11) if start < 11 < end else start,
        silence_days=settings.checkins_silence_days,
    )


@asynccontextmanager
async def open_checkins(
    settings: Settings, memory: MemoryStore, profile_of: ProfileOf, sensitive: Sensitive | None = None
) -> AsyncIterator[Checkins]:
    """The check-in planner on the bot's database (SQLite in the data dir, or PostgreSQL)."""
    from dora.wiring.bot import database_url  # the one place that spells the bot database's URL

    engine, _sessions = create_engine_and_sessions(database_url(settings))
    try:
        store = await PresenceStore(engine).open()
        yield Checkins(store, memory, profile_of, checkin_rules(settings), sensitive=sensitive)
    finally:
        await engine.dispose()
