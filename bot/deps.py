"""What the handlers need, built once in :mod:`bot.app` and injected by aiogram as ``deps``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.companion import Companion
from agent.safety import UserFlags
from bot.conversation import Conversations, agent_user_id
from bot.db.models import User
from bot.db.repo import Accounts
from dora.config import Settings

__all__ = ["BotDeps", "agent_user_id", "flags_for"]


@dataclass
class BotDeps:
    settings: Settings
    accounts: Accounts
    companion: Companion
    conversations: Conversations
    transcriber: Any = None  # tools.speech.Transcriber, built on the first voice message
    channel_cache: dict[int, float] = field(default_factory=dict)


def flags_for(account: User, pro: bool) -> UserFlags:
    return UserFlags(
        age_confirmed=account.adult_confirmed_at is not None, adult_opt_in=account.adult_opt_in, pro=pro
    )
