"""What more than one bench needs, kept in one place so no bench imports another's internals.

``MESSAGES`` are ordinary things a user tells a companion: ``dora bench agent`` times turns on them
and ``dora bench bot``'s simulated users send them, so both load the agent with the same kind of text.
"""

from __future__ import annotations

MESSAGES = [
    "Привет! Как прошёл твой день?",
    "У меня завтра собеседование в банке, немного волнуюсь.",
    "Вчера гуляли с собакой в парке, было здорово.",
    "Сестра приезжает в пятницу, надо убраться.",
    "Посоветуй, что почитать вечером?",
    "Я снова начал бегать по утрам.",
]
