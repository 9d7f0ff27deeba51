"""What the handlers need, built once by the application's root and injected by aiogram as ``deps``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.companion import Companion
from agent.safety import UserFlags
from bot.config import BotConfig
from bot.conversation import Conversations
from bot.db.models import User
from bot.db.repo import Accounts

if TYPE_CHECKING:
    from bot.checkins import CheckinSender
    from bot.feedback import FeedbackKeeper
    from tools.speech import Transcriber

__all__ = ["BotDeps", "flags_for"]


@dataclass
class BotDeps:
    config: BotConfig
    accounts: Accounts
    companion: Companion
    conversations: Conversations
    transcriber: Transcriber | None = None  # None: no speech model, voice messages get a polite refusal
    channel_cache: dict[int, float] = field(default_factory=dict)
    checkin_sender: CheckinSender | None = None  # DORA writing first (None: check-ins are off)
    feedback: FeedbackKeeper | None = None  # ratings and training consent (None: not kept)


def flags_for(account: User, pro: bool) -> UserFlags:
    """The agent's flags from the account; ``minor`` comes from the account too, so a user who told
    one persona their age is a minor to every persona (the agent also remembers it on its side)."""
    return UserFlags(
        age_confirmed=account.adult_confirmed_at is not None,
        adult_opt_in=account.adult_opt_in,
        pro=pro,
        minor=account.minor_since is not None,
    )
