"""How a Telegram user is named to the agent and memory: the one place the ``tg:`` prefix is spelled."""

from __future__ import annotations

PREFIX = "tg:"


def agent_user_id(telegram_id: int) -> str:
    """The agent's user id for a Telegram user (memory and threads are keyed by it, hashed)."""
    return f"{PREFIX}{telegram_id}"


def user_ref(text: str) -> str:
    """An operator's reference to a user: a Telegram id (digits) or an agent user id as is."""
    text = text.strip()
    return agent_user_id(int(text)) if text.isdigit() else text


def telegram_id(user_id: str) -> int | None:
    """The Telegram id in an agent user id (``tg:…``), or None for another user (``dora chat --user``)."""
    rest = user_id[len(PREFIX) :] if user_id.startswith(PREFIX) else ""
    return int(rest) if rest.isdigit() else None
