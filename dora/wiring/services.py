"""The servers a configuration may name (Redis; PostgreSQL's errors), opened with one clear error
naming the setting when they do not answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from agent.locks import LocalUserLocks, RedisUserLocks, UserLocks
from dora.config import Settings
from dora.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from redis.asyncio import Redis


def redacted(url: str) -> str:
    """``url`` without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def unavailable(what: str, url: str, setting: str, exc: BaseException) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"{what} at {redacted(url)} ({setting}) is unreachable: {type(exc).__name__}: {exc}".strip()
    )


def is_connection_error(exc: BaseException) -> bool:
    """psycopg's and SQLAlchemy's "could not connect" (without importing either here)."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(names & {"OperationalError", "ConnectionError", "ConnectionRefusedError", "PoolTimeout"})


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis | None]:
    """The shared Redis client when DORA_REDIS_URL is set (checked with a PING at start), else None."""
    if not settings.redis_url:
        yield None
        return
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise unavailable("Redis", settings.redis_url, "DORA_REDIS_URL", exc) from exc
    try:
        yield client
    finally:
        await client.aclose()


def build_locks(redis: Redis | None, settings: Settings) -> UserLocks:
    """Per-user locks across workers on Redis, or in this process."""
    if redis is None:
        return LocalUserLocks()
    return RedisUserLocks(redis, lease_s=settings.lock_lease_s)
