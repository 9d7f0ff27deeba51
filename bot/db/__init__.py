"""The bot's account database: users, consents, PRO, payments and usage counters (no message text).

Typical start-up::

    url = ...  # a SQLAlchemy URL; the application's root builds it (dora.wiring.bot.database_url)
    await migrate(url)
    engine, sessions = create_engine_and_sessions(url)
    accounts = Accounts(sessions)
"""

from bot.db.engine import create_engine_and_sessions, migrate
from bot.db.repo import Accounts, language_from_telegram

__all__ = ["Accounts", "create_engine_and_sessions", "language_from_telegram", "migrate"]
