"""A user's data rights in one place: the full export and the full wipe.

The bot's /export and /forget and the operator's `dora users export|wipe` call these, so the
document a user gets and the one an operator hands over are the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.companion import Companion
from bot.db.feedback import Feedback
from bot.db.repo import Accounts
from bot.identity import agent_user_id


async def export_user(accounts: Accounts, companion: Companion, telegram_id: int) -> dict[str, Any]:
    """Everything stored about the user, decrypted: account, consents, PRO, payments, usage, ratings,
    memory (facts with history, episodes), every persona's conversation, and what was kept for
    training while they shared it."""
    kept = Feedback(accounts.sessions, lambda account_id: companion.cipher(agent_user_id(account_id)))
    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "telegram_id": telegram_id,
        "account": await accounts.export_account(telegram_id),
        **await companion.export_user(agent_user_id(telegram_id)),
        "training_examples": [
            {
                "kept_at": ex.kept_at.isoformat(),
                "persona_id": ex.persona_id,
                "reply_message_id": ex.message_id,
                "turns": [{"role": t["role"], "text": t["content"]} for t in ex.context],
                "reply": ex.reply,
            }
            for ex in await kept.examples(telegram_id)
        ],
    }


async def wipe_user(accounts: Accounts, companion: Companion, telegram_id: int) -> dict[str, Any]:
    """Hard-delete the user from every store; idempotent (a second run finds nothing and says so)."""
    agent = await companion.wipe_user(agent_user_id(telegram_id))
    account = await accounts.delete_account(telegram_id)
    return {"conversations_and_memory": agent, "account_rows": account}
