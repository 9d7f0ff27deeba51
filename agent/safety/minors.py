"""Signs that the user is under 18: an age, a school grade, exams, school life.

Written as patterns over the normalised text (see :mod:`agent.safety.text`), because what decides
is structure the meaning model does not see well: whose age it is («мне 14» against «сыну 14»),
what the number counts («мне 15» against «мне 15 минут ехать»), and when («когда мне было 15»,
«сдавала ЕГЭ десять лет назад»). Each sign has a weight like the lexicon's: 1.0 is enough alone,
0.6 needs the example bank to agree, 0.3 is a hint.
"""

from __future__ import annotations

import re

_RU_AGES = (
    "десять|одиннадцать|двенадцать|тринадцать|четырнадцать|пятнадцать|шестнадцать|семнадцать|"
    "десяти|одиннадцати|двенадцати|тринадцати|четырнадцати|пятнадцати|шестнадцати|семнадцати"
)
_EN_AGES = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
_AGE = r"(?:1[0-7]|[89])"
# what may follow an age without turning it into something else
_RU_NOT_AGE = (
    r"(?!\s*(?:-?ти\s+)?(?:мин|сек|час|дн|день|недел|месяц|рубл|руб|р\b|тыс|к\b|км|кг|кило|грам|гр\b|"
    r"процент|%|штук|шт|раз|серий|страниц|этаж|лет\s+(?:назад|стаж|работ)|год\w*\s+(?:назад|стаж)|"
    r"числ|мая|июн|июл|авг|сент|окт|нояб|дек|янв|февр|март|апр|вечера|утра|ночи|\.|:|,\d|\d))"
)
_EN_NOT_AGE = (
    r"(?!\s*(?:min|sec|hour|hr|day|week|month|dollar|buck|percent|%|pound|kg|lb|mile|km|"
    r"times|pages|episodes|floors|am\b|pm\b|:|\.\d|\d|years?\s+(?:ago|into|of\s+experience)))"
)
_PAST = re.compile(
    r"\b(?:был[оа]?|было|исполнилось тогда|тогда|когда|в детстве|назад|раньше|"
    r"was|were|used to|back when|ago|when i was)\b"
)

_SIGNS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p), w)
    for p, w in (
        # an age said of oneself, now
        (rf"\bмне\s+(?:уже\s+|щас\s+|сейчас\s+|только\s+|всего\s+|ж\s+|же\s+|лишь\s+|то\s+|вообще-то\s+)*{_AGE}\b{_RU_NOT_AGE}", 1.0),
        (rf"\bмне\s+(?:уже\s+|щас\s+|сейчас\s+|только\s+|всего\s+|ж\s+|же\s+|лишь\s+)*(?:{_RU_AGES})\b", 1.0),
        (rf"(?<![\d.,:])\b{_AGE}\s+(?:лет|годиков|год)\s+мне\b", 1.0),
        (rf"\b(?:{_RU_AGES})\s+(?:лет\s+)?мне\b", 1.0),
        (rf"\bя\s+(?:же\s+)?(?:{_AGE}|{_RU_AGES})-?\s*(?:летн\w+|лет)\b", 1.0),
        (rf"\b(?:мне\s+)?(?:скоро|через\s+\w+\s+)(?:будет\s+|исполнится\s+)?(?:1[0-8]|{_RU_AGES}|восемнадцать)\b{_RU_NOT_AGE}", 1.0),
        (rf"\b(?:исполнилось|исполнится)\s+(?:{_AGE}|{_RU_AGES})\b", 1.0),
        (rf"\bв\s+(?:мои|свои)\s+(?:{_AGE}|{_RU_AGES})\b", 1.0),
        (r"\bещ[её]\s+нет\s+(?:18|восемнадцати)\b|\bмне\s+нет\s+(?:18|восемнадцати)\b|\bнесовершеннолетн\w+\b", 1.0),
        (rf"\b(?:i'?m|i\s+am|im)\s+(?:only\s+|just\s+|literally\s+|like\s+)?(?:{_AGE}|{_EN_AGES})\b{_EN_NOT_AGE}", 1.0),
        (rf"\b(?:{_AGE}|{_EN_AGES})\s*(?:yo|y/?o|years?\s+old|yrs?\s+old)\b", 0.6),
        (rf"\b(?:turning|turn|be)\s+(?:1[0-8]|{_EN_AGES}|eighteen)\s+(?:next|this|in)\b", 1.0),
        (r"\b(?:under\s*18|underage|not\s+18\s+yet|a\s+minor)\b", 0.6),
        # school, as a pupil
        (r"\bя\s+(?:учусь\s+|щас\s+|сейчас\s+|уже\s+|только\s+|перешла?\s+|пошла?\s+)*(?:в|во)\s+(?:[5-9]|1[01]|пят\w+|шест\w+|седьм\w+|восьм\w+|девят\w+|десят\w+|одиннадцат\w+)\s*-?\w*\s+класс", 1.0),
        (r"\b(?:учусь|перешла?|пошла?|перевели)\s+(?:в|во)\s+(?:[5-9]|1[01]|пят\w+|шест\w+|седьм\w+|восьм\w+|девят\w+|десят\w+|одиннадцат\w+)\s*-?\w*\s*класс", 1.0),
        (r"\bя\s+(?:[5-9]|1[01])?-?(?:пяти|шести|семи|восьми|девяти|десяти|одиннадцати)?классни(?:к|ца)\b", 1.0),
        (r"\b(?:пяти|шести|семи|восьми|девяти|десяти|одиннадцати)классни(?:к|ца)\b", 0.6),
        (r"\bя\s+(?:же\s+|ещ[её]\s+)?(?:школьни(?:к|ца)|подрост\w*|ребенок)\b", 1.0),
        (r"\b(?:у\s+нас\s+в\s+классе|наша\s+класснух\w*|класснух\w*|классная\s+руководительниц\w*|на\s+перемен\w+|после\s+уроков|на\s+уроке|домашк\w+|дз\s+по|родительск\w+\s+собрани\w+)", 0.3),
        (r"\b(?:сда(?:ю|ем|ть|вать)|пишу|готовлюсь\s+к|у\s+меня\s+(?:в\s+этом\s+году\s+)?|скоро|пробник\w*|пробный)\s+(?:\w+\s+)?(?:огэ|егэ|гиа|впр)\b", 1.0),
        (r"\b(?:огэ|егэ)\s+(?:в\s+этом|через|скоро|на\s+носу|в\s+следующем)", 1.0),
        (r"\b(?:родители|мама|папа|предки)\s+(?:не\s+)?(?:отпускают|разрешают|запрещают|забрали\s+телефон|наказали)", 0.3),
        (r"\bi'?m\s+in\s+(?:[6-9]|1[0-2])(?:th|st|nd|rd)?\s+grade\b|\b(?:[6-9]|1[0-2])(?:th|st|nd|rd)\s+grader\b", 1.0),
        (r"\b(?:i'?m|im|i\s+am)\s+(?:a\s+)?(?:freshman|sophomore|junior|senior)\s+in\s+high\s*school\b", 1.0),
        (r"\b(?:i'?m|im|i\s+am)\s+in\s+(?:middle|high|secondary)\s*school\b|\bi\s+go\s+to\s+(?:middle|high)\s*school\b", 1.0),
        (r"\bi'?m\s+in\s+year\s+(?:[7-9]|1[0-3])\b", 1.0),
        (r"\b(?:my|taking\s+my|doing\s+my|sitting\s+my)\s+(?:gcses|gcse|a-levels|sats|psat)\b", 0.6),
        (r"\b(?:grounded\s+me|my\s+(?:mom|mum|dad|parents)\s+(?:won'?t|wont|doesn'?t|don'?t)\s+let\s+me)\b", 0.3),
    )
)


def minor_signs(normalized: str) -> float:
    """The strongest sign of a minor in the message (0 when none); past tense halves an age."""
    best = 0.0
    for pattern, weight in _SIGNS:
        for match in pattern.finditer(normalized):
            w = weight
            window = normalized[max(0, match.start() - 30) : match.end() + 30]
            if _PAST.search(window):
                w *= 0.3
            best = max(best, w)
    return best
