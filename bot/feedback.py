"""The bookkeeping behind 👍/👎 and training consent: each reply the bot sent is remembered by its
message id (so a reaction can be tied to a persona and a model), and, only while the user shares
their conversations for training, what the reply answered is kept as an example. Revoking, a wipe
and a forget take the examples with them (see :mod:`bot.db.feedback`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.companion import Companion, ForgetResult
from bot.conversation import SentReply
from bot.db.feedback import Feedback
from bot.db.repo import Accounts
from bot.identity import agent_user_id
from bot.legal import TRAINING_VERSION


class FeedbackKeeper:
    def __init__(
        self,
        accounts: Accounts,
        store: Feedback,
        companion: Companion,
        model: str,
        training_version: str = TRAINING_VERSION,
    ) -> None:
        """``model``: the chat model's name as the operator configured it (stored with each rating)."""
        self.accounts = accounts
        self.store = store
        self.companion = companion
        self.model = model
        self.training_version = training_version

    async def on_reply(self, reply: SentReply) -> None:
        """A reply reached the chat: remember it, and keep it as an example if the user shares."""
        await self.store.record_reply(
            chat_id=reply.chat_id,
            message_id=reply.message_ids[-1],
            user_id=reply.account_id,
            turn_id=reply.turn_id,
            persona_id=reply.persona_id,
            model=self.model,
            replaces=reply.replaces,
        )
        if not reply.plain:
            return
        if reply.retried and await self.store.sent_before(
            reply.chat_id, reply.turn_id, reply.message_ids[-1]
        ):
            return  # kept when it first went out
        since = await self.accounts.sharing_since(reply.account_id, self.training_version)
        if since is None:
            return
        turn = await self.companion.training_turn(
            agent_user_id(reply.account_id), reply.persona_id, reply.turn_id
        )
        if turn is None:
            return
        # only what was said while the user shared: the window starts at the first turn since then
        shared = await self.store.turns_since(reply.account_id, reply.chat_id, since) | {reply.turn_id}
        start = next(
            (i for i, t in enumerate(turn.context) if t["role"] == "user" and t.get("id") in shared), None
        )
        if start is None:
            return
        await self.store.keep_example(
            user_id=reply.account_id,
            chat_id=reply.chat_id,
            message_id=reply.message_ids[-1],
            persona_id=reply.persona_id,
            lang=turn.lang,
            context=turn.context[start:],
            reply=reply.text,
            turn_id=reply.turn_id,
        )

    async def sharing(self, account_id: int) -> bool:
        return await self.accounts.sharing_since(account_id, self.training_version) is not None

    async def start_sharing(self, account_id: int, now: datetime | None = None) -> None:
        await self.accounts.share_for_training(account_id, self.training_version, now or datetime.now(UTC))

    async def stop_sharing(self, account_id: int, now: datetime | None = None) -> int:
        """Revoke, and delete what was kept for training at once; how many examples went."""
        await self.accounts.stop_sharing(account_id, now or datetime.now(UTC))
        return await self.store.delete_examples(account_id)

    async def forgotten(self, account_id: int, result: ForgetResult | None) -> int:
        """After a forget: examples that hold what was forgotten go (see :meth:`Feedback.forget_examples`)."""
        if result is None or (not result.deleted and not result.trimmed):
            return 0
        return await self.store.forget_examples(account_id, result.message_ids, result.says)
