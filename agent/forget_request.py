"""Hearing "forget what I said about my cat" in a chat message, and what to forget.

A request to forget is a command, not conversation: it is answered by showing what matches and
asking to confirm, and it is never stored itself (it names the very thing to forget). So the match
is strict: the message must *start* as a request to the persona («забудь…», "forget…", "please
forget…") and name a subject after «про/о/об» or "about"; «не забудь купить хлеб», «забудь, я просто
устала» and "I forgot my keys" are conversation. Everything else ("forget it") is conversation too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RU = re.compile(
    r"^\s*(?:[а-яёa-z]+\s*,\s*)?(?:пожалуйста[\s,]+|слушай[\s,]+)?"
    r"(?:забудь|забудьте|удали|сотри)(?:\s*,?\s*пожалуйста)?\s*,?\s*"
    r"(?:(?:вс[её]\s*,?\s*)?(?:о\s+том\s*,?\s*)?(?:что|чт|шо)\s+я\s+(?:тебе\s+)?"
    r"(?:говорил[аи]?|рассказывал[аи]?|писал[аи]?|сказал[аи]?|рассказал[аи]?|написал[аи]?)"
    r"(?:\s+тебе)?\s+|вс[её]\s+|(?:мои|мою|мой)\s+(?:слова|сообщения|воспоминани[ея])\s+)?"
    r"(?:про|о|об|обо)\s+(?P<topic>\S.*?)\s*[.!?)]*\s*$",
    re.IGNORECASE | re.DOTALL,
)
_EN = re.compile(
    r"^\s*(?:[a-zа-яё]+\s*,\s*)?(?:please[\s,]+|hey[\s,]+)?(?:forget|delete|erase)(?:\s*,?\s*please)?\s*,?\s*"
    r"(?:(?:everything|all|what|anything)\s+(?:that\s+)?I\s+(?:ever\s+)?(?:said|told\s+you|wrote|mentioned)"
    r"(?:\s+to\s+you)?\s+|everything\s+)?"
    r"(?:about|of|regarding)\s+(?P<topic>\S.*?)\s*[.!?)]*\s*$",
    re.IGNORECASE | re.DOTALL,
)
# «забудь обо всём», "forget about everything": the whole account, which /forget does (with its
# own, stronger confirmation), not a subject
_EVERYTHING = re.compile(r"^(?:вс[её]м?|обо\s+вс[её]м|everything|all)$", re.IGNORECASE)
# «забудь про меня», "forget about me": said in pain as often as in privacy; it is conversation, and
# the safety rules hear it like any other message
_ME = re.compile(r"^(?:мне|меня|мен[яе]\s+вообще|me|about\s+me)$", re.IGNORECASE)
_MAX_TOPIC_CHARS = 200


@dataclass(frozen=True)
class ForgetRequest:
    topic: str  # what to forget, as the user put it ("моего кота", "my ex")
    everything: bool = False  # they asked to forget everything: point them to /forget


def parse_forget_request(text: str) -> ForgetRequest | None:
    """The request in ``text``, or None when the message is conversation."""
    if not text or len(text) > _MAX_TOPIC_CHARS + 60 or "\n" in text.strip():
        return None
    match = _RU.match(text) or _EN.match(text)
    if match is None:
        return None
    topic = match.group("topic").strip(" ,.;:!?\"'«»“”")
    if not topic or _ME.match(topic):
        return None
    return ForgetRequest(topic=topic, everything=bool(_EVERYTHING.match(topic)))
