"""Where ``dora train data`` reads from: the bot's database and the users' keys, for users who share
their conversations for training under the current policy version, and only their examples kept
since they last said yes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent.companion import ForgetResult
from bot.db.engine import create_engine_and_sessions, migrate
from bot.db.feedback import Feedback, KeptExample
from bot.db.repo import Accounts
from bot.identity import agent_user_id
from bot.legal import TRAINING_VERSION
from dora.config import Settings
from dora.wiring.bot import database_url
from dora.wiring.memory import build_keyring
from memory.crypto import UserCipher


@asynccontextmanager
async def _kept_store(settings: Settings) -> AsyncIterator[tuple[Accounts, Feedback]]:
    """The bot's database (migrated) with the kept examples readable under each user's own key; a
    user whose key is gone (wiped) has nothing left to read."""
    keyring = build_keyring(settings)
    url = database_url(settings)
    await migrate(url)
    engine, sessions = create_engine_and_sessions(url)

    def cipher_for(account_id: int) -> UserCipher:
        cipher = keyring.cipher(agent_user_id(account_id), create=False)
        if cipher is None:
            raise LookupError("the user's key is gone")
        return cipher

    try:
        yield Accounts(sessions), Feedback(sessions, cipher_for)
    finally:
        await engine.dispose()


async def shared_examples(
    settings: Settings, version: str = TRAINING_VERSION
) -> dict[int, list[KeptExample]]:
    """Each sharing user's kept examples, oldest first, decrypted. A user whose key is gone (wiped)
    has nothing left to read and is skipped."""
    keyring = build_keyring(settings)
    async with _kept_store(settings) as (accounts, store):
        out: dict[int, list[KeptExample]] = {}
        for user_id, since in sorted((await accounts.sharing_users(version)).items()):
            if not keyring.has_user(agent_user_id(user_id)):
                continue
            examples = [ex for ex in await store.examples(user_id) if ex.kept_at >= since]
            if examples:
                out[user_id] = examples
        return out


async def forget_kept(settings: Settings, account_id: int, result: ForgetResult) -> int:
    """`dora memory forget` on a bot user: the kept training examples that hold what was forgotten
    go too, as they do when the user forgets it in the chat; how many went."""
    if not result.deleted and not result.trimmed:
        return 0
    async with _kept_store(settings) as (_, store):
        return await store.forget_examples(account_id, result.message_ids, result.says)
