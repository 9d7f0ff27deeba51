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
    """The agent's flags from the account; ``minor`` comes from the account too, so a user who told
    one persona their age is a minor to every persona (the agent also remembers it on its side)."""
    return UserFlags(
        age_confirmed=account.adult_confirmed_at is not None,
        adult_opt_in=account.adult_opt_in,
        pro=pro,
        minor=account.minor_since is not None,
    )
