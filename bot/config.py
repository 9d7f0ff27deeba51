"""The few values the bot reads, as plain data: the application's root fills them from its settings,
so nothing in the bot knows where configuration comes from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class BotConfig:
    """What handlers and middlewares read."""

    data_dir: Path  # compiled translations are kept under it
    throttle_messages_per_minute: int
    required_channel: str | None  # users must join it first (None: no such gate)
    free_partner_daily_messages: int  # partner-persona messages a day without PRO
    pro_days: int  # days of PRO one payment buys
    pro_price_stars: int  # the price of those days in Telegram Stars
    voice_max_seconds: int  # longer voice messages get a friendly refusal


@dataclass(frozen=True)
class TelegramConfig:
    """How this process reaches Telegram and, in webhook mode, how Telegram reaches it."""

    token: str
    api_base: str | None = None  # a self-hosted Bot API server; None: Telegram's
    webhook_url: str | None = None  # None: long polling
    webhook_secret: str | None = None  # Telegram sends it with every update; others get 401
    webhook_listen: str = "127.0.0.1:8080"  # host:port behind the HTTPS proxy

    @property
    def webhook_path(self) -> str:
        """Where updates are POSTed: the webhook URL's path."""
        return urlsplit(self.webhook_url or "").path or "/telegram"
