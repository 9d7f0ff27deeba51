"""Requests for the system prompt, to drop the rules, or for other users' data.

The old filter fired on any mention of "other people" («как у остальных людей бывает?»), which a
lonely user asks often and deserves a real answer to. A request counts here only when it asks for
*access*: to show, repeat or reveal the instructions, to ignore them, or what other users told the
bot (their messages, chats, data). Patterns run on the normalised text.
"""

from __future__ import annotations

import re

_INJECTION = re.compile(
    r"(?:систем\w*|скрыт\w*|начальн\w*|исходн\w*|внутренн\w*)\s+(?:промпт|промт|инструкц|подсказк|настройк|правил)|"
    r"(?:твой|свой|твои|свои|ваш|тво[йи]\s+системн\w+)\s+(?:промпт|промт|инструкци|системн)|"
    r"(?:покажи|выведи|повтори|напиши|раскрой|скажи|процитируй|расскажи|скинь|перечисли|дай)\w*\s+(?:мне\s+)?"
    r"(?:свои|твои|все|всю|свою|твою|весь|свой|твой|дословно\s+)*\s*(?:инструкци|правил|промпт|системн|"
    r"настройки|установки|указания|ограничения)|"
    r"(?:игнорир|забудь|отмени|отключи|сними|обойди)\w*\s+(?:все\s+|свои\s+|твои\s+|любые\s+)?"
    r"(?:предыдущ\w+\s+|прошл\w+\s+|прежн\w+\s+|эти\s+)?(?:инструкц|указани|правил|ограничени|фильтр|цензур)|"
    r"(?:режим\w*\s+(?:разработчика|бога|без\s+ограничений)|jailbreak|джейлбрейк|\bdan\b)|"
    r"(?:что|о\s+ч[её]м|про\s+что)\s+(?:тебе\s+)?(?:пишут|писали|рассказывают|рассказали|рассказывал\w*|говорят|говорили)\s+"
    r"(?:тебе\s+)?(?:други\w+|остальн\w+|чуж\w+)\s+(?:пользовател|юзер|люди|собеседник|клиент)|"
    r"(?:покажи|дай|перешли|скинь|расскажи|открой|слей|выложи)\w*\s+(?:мне\s+)?(?:\w+\s+)?"
    r"(?:переписк|сообщени|чат|диалог|данн|истори|разговор|памят)\w*\s+(?:\w+\s+)?(?:други\w+|чуж\w+|остальн\w+|"
    r"пользовател|юзер|другого|какого-нибудь)|"
    r"(?:чуж\w+|других\s+(?:пользователей|юзеров|людей))\s+(?:переписк|сообщени|чат|диалог|данн|памят|разговор)|"
    r"(?:system|hidden|initial|original)\s+(?:prompt|instructions|message)|"
    r"(?:show|reveal|print|repeat|tell|give|list|paste|dump)\s+(?:me\s+)?(?:your|the|all|ur)\s+"
    r"(?:\w+\s+)?(?:instructions|rules|prompt|guidelines|system)|"
    r"(?:ignore|forget|disregard|bypass|override)\s+(?:all\s+|any\s+|your\s+|ur\s+)?(?:previous\s+|prior\s+|above\s+|the\s+)?"
    r"(?:instructions|rules|guidelines|filters|restrictions|prompt)|"
    r"developer\s+mode|god\s+mode|"
    r"(?:what|anything)\s+(?:did|do|have)\s+(?:other|another)\s+(?:users?|people|person)\s+"
    r"(?:tell|told|say|said|write|wrote|send|sent|share|shared)\s+(?:to\s+)?(?:you|u)|"
    r"(?:show|give|send|tell|read|share|leak)\s+(?:me\s+)?(?:\w+\s+)?(?:other|another|someone\s+else'?s?|"
    r"other\s+people'?s?)\s+(?:users?'?s?\s+)?(?:messages|chats|data|conversations|memories|history|dms)|"
    r"(?:other|another)\s+(?:users?|people)'?s?\s+(?:messages|chats|data|conversations|memories|history|dms)|"
    r"someone\s+else'?s\s+(?:memor|data|messages|chats)"
)


def is_prompt_injection(normalized: str) -> bool:
    """Asks for the instructions, to drop the rules, or for other users' data (see the docstring)."""
    return _INJECTION.search(normalized) is not None


# Whom a request for access is made of: the bot (you, your rules, the prompt) or other people.
# A message naming neither («на каком языке я программирую?», "write a bio for my profile") asks
# about the user's own life, however close its meaning lies to a request for the instructions.
_ADDRESSED = re.compile(
    r"\b(?:ты|тебе|тебя|тобой|твой|твоя|твоё|твое|твои|твоих|твоим|свой|свои|своих|вы|вам|вас|ваш\w*|"
    r"бот\w*|ии|нейросет\w*|модел\w*|промпт\w*|промт\w*|инструкц\w*|правил\w*|настройк\w*|систем\w*|"
    r"други\w*|остальн\w*|чуж\w*|пользовател\w*|юзер\w*|люд\w*|кто-то|кого-то|"
    r"you|your|yours|yourself|ur|u|bot|ai|model|prompt|instructions|rules|system|"
    r"other|others|users?|people|someone|somebody|anyone|everyone)\b"
)


def addressed(normalized: str) -> bool:
    """The message speaks to the bot or of other people: a request for access can only be that."""
    return _ADDRESSED.search(normalized) is not None
