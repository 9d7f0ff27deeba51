"""What more than one bench needs, kept in one place so no bench imports another's internals.

``MESSAGES`` are ordinary things a user tells a companion: ``dora bench agent`` times turns on them
and ``dora bench bot``'s simulated users send them, so both load the agent with the same kind of text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_list(path: Path, key: str, shape: str, error: type[ValueError]) -> list[Any]:
    """The non-empty list under ``key`` in a JSON file an operator passed on the command line; any
    other file raises ``error`` with a message that says what is wrong (``shape`` shows an item)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"no such file: {path}") from exc
    except (OSError, ValueError) as exc:
        raise error(f"{path} is not JSON: {exc}") from exc
    items = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise error(f'{path}: expected {{"{key}": [{shape}, ...]}}')
    return items


MESSAGES = [
    "Привет! Как прошёл твой день?",
    "У меня завтра собеседование в банке, немного волнуюсь.",
    "Вчера гуляли с собакой в парке, было здорово.",
    "Сестра приезжает в пятницу, надо убраться.",
    "Посоветуй, что почитать вечером?",
    "Я снова начал бегать по утрам.",
]
