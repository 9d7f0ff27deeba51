"""Signs that the user is under 18: an age, a school grade, exams, school life.

Written as patterns over the normalised text (see :mod:`agent.safety.text`), because what decides
is structure the meaning model does not see well: whose age it is («мне 14» against «сыну 14»),
what the number counts («мне 15» against «мне 15 минут ехать»), and when («когда мне было 15»,
«сдавала ЕГЭ десять лет назад»). Each sign has a weight like the lexicon's: 1.0 is enough alone,
0.6 needs the example bank to agree, 0.3 is a hint; two different hints of school life make 0.6,
three (and no one else's child in the message) 1.0.
Someone else's child («дочка в девятом», «внучке исполнилось 11», «my twins turn 11»), someone named
or spoken of in the third person («Мишке скоро 7, в первый класс пойдёт»: a mother's news, which
marked her a minor for good until a dialogue scenario showed it) and the past damp a sign.
"""

from __future__ import annotations

import re
from datetime import date

_RU_AGES = (
    "десять|одиннадцать|двенадцать|тринадцать|четырнадцать|пятнадцать|шестнадцать|семнадцать|"
    "десяти|одиннадцати|двенадцати|тринадцати|четырнадцати|пятнадцати|шестнадцати|семнадцати|"
    "пятнадцатый|шестнадцатый|четырнадцатый|тринадцатый|двенадцатый|семнадцатый"
)
# words that may stand between «мне» and an age: «мне между прочим уже 13», «мне как раз 15»
_FILLER = (
    r"(?:уже|щас|сейчас|только|всего|ж|же|лишь|то|вообще-то|вообще|ещ[её]|между\s+прочим|как\s+раз|вот|"
    r"ведь|почти|кстати|типа|тоже|реально|правда|так-то|вроде|скоро|недавно)"
)
_EN_AGES = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
_AGE = r"(?:1[0-7]|[89])"
_GRADE = r"(?:[4-9]|1[01])"
_ORD = (
    r"(?:четв[её]рт\w*|пят\w*|шест\w*|седьм\w*|восьм\w*|девят\w*|десят\w*|одиннадцат\w*|"
    r"выпускн\w*)"
)
# what may follow an age without turning it into something else
_RU_NOT_AGE = (
    r"(?!\s*(?:-?ти\s+)?(?:мин|сек|час|дн|день|недел|месяц|рубл|руб|р\b|тыс|к\b|км|кг|кило|грам|гр\b|"
    r"процент|%|штук|шт|раз|серий|страниц|этаж|лет\s+(?:назад|стаж|работ)|год\w*\s+(?:назад|стаж)|"
    r"числ|мая|июн|июл|авг|сент|окт|нояб|дек|янв|февр|март|апр|вечера|утра|ночи|\.\d|:\d|,\d|\d))"
)
_EN_NOT_AGE = (
    r"(?!\s*(?:min|sec|hour|hr|day|week|month|dollar|buck|percent|%|pound|kg|lb|mile|km|"
    r"times|pages|episodes|floors|am\b|pm\b|:|\.\d|\d|years?\s+(?:ago|into|of\s+experience)))"
)
_PAST = re.compile(
    r"\b(?:был[оа]?|было|тогда|когда-то|в детстве|назад|раньше|в юности|в молодости|"
    r"сдавал\w*|сдал[аи]?|учил(?:ся|ась|ись)|ходил[аи]?|а\s+сейчас|а\s+теперь|"
    r"was|were|used to|back when|ago|when i was|back in|now\s+i'?m)\b"
)
# someone else's child or pupils: the sign is about them, not the user
_OTHERS = re.compile(
    r"\b(?:доч\w*|сын\w*|внук\w*|внучк\w*|племянни\w*|ребен\w*|реб[её]нк\w*|дет(?:и|ей|ям|ьми)|"
    r"ученик\w*|ученик|учени(?:ца|цы|цам)|школьник(?:и|ов|ам)|брат\w*|сестр\w*|двойн\w*|близнец\w*|"
    r"младш\w*|старш\w*|веду|преподаю|классн\w+\s+руковод\w+\s+у|учитель|учительниц\w*|"
    r"son|daughter|kid|kids|child|children|twins?|niece|nephew|grandson|granddaughter|brother|sister|"
    r"students|pupils|my\s+class|i\s+teach)\b"
)
# an adult's role around school: a teacher, a tutor, years of service
_ADULT_ROLE = re.compile(
    r"\b(?:стаж\w*|преподаю|(?:я|работаю)\s+(?:\w+\s+)?(?:учител\w*|преподавател\w*|репетитор\w*|"
    r"воспитател\w*|завуч\w*|директор\w*|медсестр\w*|вожат\w*|тренер\w*|психолог\w*)|(?:еду|буду)\s+вожат\w*|веду\s+(?:уроки|класс|кружок|\d)|готовлю\s+(?:ребят|детей|учеников)|"
    r"мои(?:х|м)?\s+ученик\w*|i\s+teach|i'?m\s+a\s+(?:\w+\s+)?(?:teacher|tutor)|as\s+a\s+teacher|"
    r"my\s+students|my\s+pupils|years?\s+of\s+(?:teaching|experience))\b"
)
# a third person around a sign: «она в шестом классе» (just before it), «Мишке скоро 7, в первый
# класс пойдёт» (a verb just after it); a pronoun after it starts another clause («у нас в 7б
# новенькая, она прикольная»)
_THIRD_BEFORE = re.compile(r"\b(?:он|она|оно|они|he|she|they)\s+$")
_THIRD_AFTER = re.compile(
    r"^\W*(?:\w+\s+)?(?:пойд[её]т|пойдут|ид[её]т|идут|учится|учатся|перейд[её]т|переходит|ходит|"
    r"закончит|заканчивает|поступает|сда[её]т|goes|starts|turns)\b"
)
# a word in the dative just before a sign: someone named («Сашке скоро 14», «Мишке скоро 7»)
_SOMEONE_BEFORE = re.compile(
    rf"\b(?!(?:мне|я|мы|нам|ну|а|и|так|блин|короче|теперь|{_FILLER})\b)[а-яё]{{3,}}(?:е|у|ю|и)\s+$"
)
_NOW = re.compile(r"\b(?:теперь|сейчас|щас|уже|now|today|currently)\b")
_SELF_NEAR = re.compile(r"\b(?:я|мне|меня|i|i'?m|im|me)\b")
# the user gives an adult age: a school sign is then about their past or someone else
_ADULT_AGE = re.compile(
    r"\b(?:мне|i'?m|im|i\s+am)\s+(?:уже\s+|already\s+|now\s+)?(?:1[89]|[2-9]\d)\b(?!\s*(?:мин|min|час|hour|%))"
)

_SIGNS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p), w)
    for p, w in (
        # an age said of oneself, now
        (
            rf"\bмне\s+(?:{_FILLER}\s+)*{_AGE}\b{_RU_NOT_AGE}",
            1.0,
        ),
        (
            rf"\bмне\s+(?:{_FILLER}\s+)*(?:{_RU_AGES})\b",
            1.0,
        ),
        (rf"(?<![\d.,:])\b{_AGE}\s+(?:лет|годиков|год)\s+мне\b", 1.0),
        (rf"\b(?:{_RU_AGES})\s+(?:лет\s+)?мне\b", 1.0),
        (rf"\bя\s+(?:же\s+)?(?:{_AGE}|{_RU_AGES})-?\s*(?:летн\w+|лет)\b", 1.0),
        (
            rf"\b(?:мне\s+)?(?:скоро\s+|через\s+\w+\s+)(?:уже\s+|только\s+|всего\s+)?(?:будет\s+|исполнится\s+|стукнет\s+)?(?:1[0-8]|{_RU_AGES}|восемнадцать)\b{_RU_NOT_AGE}",
            1.0,
        ),
        (
            rf"\bмне\s+(?:\w+\s+){{0,2}}(?:исполнилось|исполнится|стукнуло|стукнет)\s+(?:уже\s+)?"
            rf"(?:{_AGE}|{_RU_AGES})\b",
            1.0,
        ),
        (rf"\bмне\s+(?:\w+\s+){{0,2}}(?:{_AGE}|{_RU_AGES})\s+(?:лет\s+)?(?:исполнилось|стукнуло)\b", 1.0),
        (rf"\b(?:исполнилось|исполнится|стукнуло|стукнет)\s+(?:уже\s+)?(?:{_AGE}|{_RU_AGES})\b", 0.3),
        (rf"\b(?:{_AGE}|{_RU_AGES})\s+(?:лет\s+)?(?:исполнилось|стукнуло)\b", 0.3),
        (rf"^\W*(?:{_AGE}|{_RU_AGES})\s+(?:лет\s+)?(?:исполнилось|стукнуло)\b", 1.0),
        (rf"\bв\s+(?:мои|свои)\s+(?:{_AGE}|{_RU_AGES})\b", 0.6),
        (
            rf"\b(?:нам|мне\s+и\s+\w+)\s+(?:с\s+\w+\s+)?(?:обоим\s+|обеим\s+)?по\s+(?:{_AGE}|{_RU_AGES})\b{_RU_NOT_AGE}",
            1.0,
        ),
        (
            rf"\bмне\s+(?:\w+\s+){{0,3}}(?:будет|исполнится|стукнет)\s+(?:{_AGE}|{_RU_AGES})\b{_RU_NOT_AGE}",
            1.0,
        ),
        (rf"\bу\s+меня\s+в\s+{_AGE}\s+лет\b", 1.0),
        (rf"\bкогда\s+тебе\s+(?:{_AGE}|{_RU_AGES})\b", 0.6),
        (r"\b(?:мне\s+|мо[йеё]\s+|на\s+)(?:пят|шест|четыр|трин|двен|сем|один)надцатилети\w*", 1.0),
        (r"\b(?:я\s+)?(?:перв|втор|трет|четвер|пят|шест|седьм|сем|восьм)оклашк\w*|\bпятиклашк\w*", 0.6),
        (
            r"\bещ[её]\s+нет\s+(?:18|восемнадцати)\b|\bмне\s+нет\s+(?:18|восемнадцати)\b|\bнесовершеннолетн\w+\b",
            1.0,
        ),
        (
            rf"\b(?:i'?m|i\s+am|im)\s+(?:only\s+|just\s+|literally\s+|like\s+|still\s+)?(?:{_AGE}|{_EN_AGES})\b{_EN_NOT_AGE}",
            1.0,
        ),
        (rf"\b(?:{_AGE}|{_EN_AGES})\s*(?:yo|y/?o|years?\s+old|yrs?\s+old|yrs)\b", 0.6),
        (
            rf"\b(?:i|i'?ve|ive|i\s+have)\s+(?:just\s+)?turned\s+(?:{_AGE}|{_EN_AGES})\b|^\W*(?:just\s+)?turned\s+(?:{_AGE}|{_EN_AGES})\b",
            1.0,
        ),
        (rf"\bturned\s+(?:{_AGE}|{_EN_AGES})\b", 0.3),
        (
            rf"\b(?:i'?m|im|i\s+am|i)\s+(?:turning|turn|will\s+be|gonna\s+be)\s+(?:1[0-8]|{_EN_AGES}|eighteen)\b",
            1.0,
        ),
        (rf"\b(?:{_AGE}|{_EN_AGES})\s+and\s+(?:still|my|i)\b", 0.6),
        (r"\bsweet\s+sixteen\b|\b(?:under\s*18|underage|not\s+18\s+yet|a\s+minor)\b", 0.6),
        # school, as a pupil
        (
            rf"\b(?:я|учусь|перешл[аи]?|перешел|перехожу|иду|пошл[аи]?|пош[её]л|хожу)\s+(?:\w+\s+)?(?:в|во)\s+(?:{_GRADE}|{_ORD})\s*-?\w{{0,3}}\b(?:\s+класс\w*)?",
            1.0,
        ),
        (
            rf"\b(?:у\s+нас|в\s+нашем|нашем|наш)\s+(?:в\s+)?(?:{_GRADE}|{_ORD})\s*-?\w{{0,3}}\s*(?:класс\w*)?\b",
            0.6,
        ),
        (rf"\bв\s+(?:{_GRADE}\s*-?(?:[абвгд]|м|ом|й|ый)|{_ORD})\s+класс\w*", 1.0),
        (rf"\bв\s+{_GRADE}\s*-?(?:[абвгд]|м|ом|й|ый)\b", 0.6),
        (rf"\b(?:из|с|у)\s+{_GRADE}\s*-?[абвгд]\b", 0.6),
        (rf"\b(?:нам|у\s+нас|мы)\s+(?:\w+\s+)?(?:в|во)\s+(?:{_GRADE}\s*-?\w{{0,2}}|{_ORD})\b", 1.0),
        (
            rf"\b(?:после|заканчиваю|закончу|перехожу\s+в|поступаю\s+в|иду\s+в|пойду\s+в)\s+(?:{_GRADE}\s*-?\w{{0,2}}|{_ORD})\b",
            0.6,
        ),
        (r"\bв\s+(?:[1-3]\s*-?\w{0,2}|перв\w+|втор\w+|трет\w+)\s+класс\w*", 1.0),
        (rf"\b(?:в|во)\s+{_ORD}\b", 0.3),
        (rf"\b(?:{_GRADE}|{_ORD})\s*-?\w{{0,2}}\s+класс\w*", 0.6),
        (rf"\b(?:ученик|ученица|школьник|школьница)\s+(?:{_GRADE}|{_ORD})\s*-?\w{{0,3}}\s+класс", 1.0),
        (
            r"\bя\s+(?:[4-9]|1[01])?-?(?:четырех|пяти|шести|семи|восьми|девяти|десяти|одиннадцати)?классни(?:к|ца)\b",
            1.0,
        ),
        (
            r"\b(?:четв[её]ро|пяти|шести|семи|восьми|девяти|десяти|одиннадцати)классни(?:к|ца|ки|кам|ков)\b",
            0.6,
        ),
        (r"\bя\s+(?:же\s+|ещ[её]\s+|тоже\s+)?(?:школьни(?:к|ца)|подрост\w*|ребенок|ученик|ученица)\b", 1.0),
        (
            r"\b(?:сда(?:ю|ем|ть|вать)|пишу|готовлюсь\s+к|у\s+меня\s+(?:в\s+этом\s+году\s+)?|скоро|пробник\w*|пробный|допуск\s+к|через\s+\w+)\s+(?:\w+\s+)?(?:огэ|егэ|гиа|впр)\b",
            1.0,
        ),
        (
            r"\b(?:огэ|егэ|гиа|впр)\s+(?:в\s+этом|через|скоро|на\s+носу|в\s+следующем|по\s+\w+\s+(?:в|через))",
            1.0,
        ),
        (r"\b(?:огэ|егэ|гиа|впр|итоговое\s+(?:сочинение|собеседование))\b", 0.6),
        (
            r"\b(?:i'?m|im|i\s+am)\s+in\s+(?:[5-9]|1[0-2])(?:th|st|nd|rd)?\s+grade\b|\bin\s+grade\s+(?:[5-9]|1[0-2])\b",
            1.0,
        ),
        (r"\b(?:[5-9]|1[0-2])(?:th|st|nd|rd)\s+grade(?:r|rs)?\b|\bgrade\s+(?:[5-9]|1[0-2])\b", 0.6),
        (r"\b(?:fifth|sixth|seventh|eighth|ninth|tenth|eleventh)\s+grade\b", 0.6),
        (r"\b(?:i'?m|im|i\s+am)\s+in\s+(?:[5-9]|1[0-2])(?:th|st|nd|rd)\b", 1.0),
        (r"\bus\s+freshmen\b|\b(?:at|in)\s+(?:[5-9]|1[0-2])\b(?=.*\b(?:like|still|too)\b)", 0.3),
        (rf"\bat\s+(?:{_AGE}|{_EN_AGES})\b", 0.3),
        # an age still ahead by a short time: "16 in three months"
        (
            rf"\b(?:{_AGE}|{_EN_AGES})\s+in\s+(?:a|one|two|three|four|five|six|a\s+few|few|\d+)\s+"
            r"(?:months?|weeks?|days?)\b",
            0.6,
        ),
        (r"\b(?:i'?m|im|i\s+am)\s+(?:just\s+|only\s+|still\s+)?a\s+kid\b(?!\s+at\s+heart)", 0.6),
        (r"\b(?:freshman|sophomore)\s+here\b", 0.6),
        (r"\bfinally\s+a\s+teenager\b|\bteenager\s+now\b", 1.0),
        (
            r"\b(?:i'?m|im|i\s+am)\s+(?:a\s+)?(?:freshman|sophomore|junior|senior)\b(?!\s+(?:in|at)\s+(?:college|uni))",
            1.0,
        ),
        (r"\b(?:freshman|sophomore|junior)\s+year\b", 0.6),
        (
            r"\b(?:i'?m|im|i\s+am)\s+in\s+(?:middle|high|secondary)\s*school\b|\bi\s+go\s+to\s+(?:middle|high)\s*school\b",
            1.0,
        ),
        (r"\b(?:middle|high|secondary)\s*school\b", 0.3),
        (
            r"\b(?:i'?m|im|i\s+am)\s+in\s+year\s+(?:[5-9]|1[0-3])\b|\b(?:finishing|starting|into)\s+year\s+(?:[5-9]|1[0-3])\b",
            1.0,
        ),
        (r"\byear\s+(?:[5-9]|1[0-3])\b", 0.3),
        (
            r"\b(?:my|taking\s+my|doing\s+my|sitting\s+my|the)\s+(?:gcses|gcse|a-?levels|sats|psat|mocks)\b|\bgcse\w*\b",
            0.6,
        ),
    )
)

_SCHOOL_LIFE = re.compile(
    r"\b(?:класс?н?ух\w*|классн\w+\s+руководител\w*|классная|продл[её]нк\w*|четвертн\w+|домашк\w*|дз\b|"
    r"перемен\w+|физр\w*|сменк\w*|родительск\w+\s+(?:собрани\w*|чат\w*)|школьн\w+|после\s+уроков|"
    r"на\s+уроке|урок\w*|в\s+школ\w+|из\s+школ\w+|контрольн\w+|дневник\w*|параллел\w+|лагер\w+|"
    r"трудовик\w*|карманн\w+|каникул\w+|двойк\w+|тройк\w+|пят[её]рк\w+|директор\w*|обж|училк\w*|физичк\w*|историк\w*|"
    r"англичанк\w*|русичк\w*|музычк\w*|химичк\w*|математичк\w*|биологичк\w*|классн\w+\s+час\w*|"
    r"дежурств\w+\s+по\s+классу|под\s+партой|лице[йе]\w*|гимнази\w+|однокласс\w+|самостоялк\w*|гдз|"
    r"электронк\w+|ученическ\w+|годов\w+\s+(?:по|оценк)|медосмотр\w*\s+в\s+школе|всем\s+классом|"
    r"последн\w+\s+звон\w*|вожат\w+|на\s+(?:биологии|химии|физике|алгебре|геометрии|литре|истории|технологии)|"
    r"pop\s+quiz|worksheet|\d(?:st|nd|rd|th)\s+period|progress\s+report|school\s+counselor|homecoming|"
    r"lockers?|school\s+bus|last\s+bell|form\s+tutor|class\s+trip|mocks|too\s+young|allowed\s+to|"
    r"homeroom|detention|permission\s+slip|school\s+nights?|grounded|curfew|learners?\s+permit|"
    r"lights\s+out|recess|homework|my\s+teacher|class\s+trip|report\s+card|last\s+period|"
    r"(?:mom|mum|dad|parents)\s+(?:won'?t|wont|doesn'?t|don'?t)\s+let\s+me|picking\s+me\s+up\s+from\s+school|"
    r"родители\s+(?:не\s+)?(?:отпускают|разрешают|запрещают|против)|предки|мама\s+не\s+(?:отпускает|разрешает))"
)


# how people introduce themselves in chats: «15 m из казани», "14f, bored" (an age and a sex first)
_INTRO = re.compile(
    rf"^\W*{_AGE}\s?(?:f|m|ж|м|д|п)\b"
    r"(?=\s*(?:[,.!?;](?!\s*\d)|$|from|here|looking|bored|anyone|lets|из|ищу|тут|здесь|го\b|скучно))"
)
# a birth year said of oneself («я 2010 года», «2011 г.р.», "born in 2010"); not «я с 2010 года»
_BIRTH_YEAR = re.compile(
    r"(?:\bя\s+|\b(?:родил(?:ся|ась)|born)\s+(?:в\s+|in\s+)?)(20[0-2]\d)(?:\s*(?:года|г\.?\s*р|го)\b)?"
    r"|\b(20[0-2]\d)\s*г\.?\s*р\b"
)
# turning 18 is still ahead: «когда мне исполнится 18», "when i turn 18"
_TURNING_ADULT = re.compile(
    r"\b(?:когда|как\s+только|пока)\s+мне\s+(?:не\s+)?(?:исполнится|будет|стукнет)\s+(?:18|восемнадцать)\b"
    r"|\b(?:when|once|until)\s+i\s+(?:turn|am|'?m)\s+(?:18|eighteen)\b"
)


def _age_from_birth_year(normalized: str, year: int) -> float:
    for match in _BIRTH_YEAR.finditer(normalized):
        born = int(match.group(1) or match.group(2))
        if 10 <= year - born <= 17:  # a birth is always past: only someone else's year damps it
            before = normalized[max(0, match.start() - 120) : match.start()]
            return 0.3 if _OTHERS.search(before) else 1.0
    return 0.0


def minor_signs(normalized: str, year: int | None = None) -> float:
    """The strongest sign of a minor in the message (0 when none); see the module docstring.
    ``year``: the current year, against which a birth year is read (default: today's)."""
    best = 0.0
    for pattern, weight in _SIGNS:
        for match in pattern.finditer(normalized):
            best = max(best, weight * _damping(normalized, match.start(), match.end()))
    if _INTRO.search(normalized) or _TURNING_ADULT.search(normalized):
        best = 1.0 if not _ADULT_ROLE.search(normalized) else best
    best = max(best, _age_from_birth_year(normalized, year or date.today().year))
    life = {m.group().split()[0][:5] for m in _SCHOOL_LIFE.finditer(normalized)}
    if life:
        others = _OTHERS.search(normalized) and not re.search(r"\b(?:я|i)\b", normalized)
        # two different things of school life need the bank; three, with nobody else's child or
        # pupils in the message, are a pupil's own day
        hint = 1.0 if len(life) >= 3 and not _OTHERS.search(normalized) else 0.6 if len(life) >= 2 else 0.3
        best = max(best, hint * (0.5 if others else 1.0))
    if _ADULT_ROLE.search(normalized) or _ADULT_AGE.search(normalized):
        best *= 0.3
    return best


def _damping(text: str, start: int, end: int) -> float:
    window = text[max(0, start - 25) : end + 15]
    w = 1.0
    if _PAST.search(window) and not _NOW.search(text[max(0, start - 12) : start]):
        w *= 0.3
    before = text[max(0, start - 120) : start]
    self_near = _SELF_NEAR.search(text[max(0, start - 8) : end])
    # someone else's child, or someone named or spoken of in the third person («Мишке скоро 7, в
    # первый класс пойдёт»): their age or grade, not the user's
    someone_else = (
        _OTHERS.search(before)
        or _THIRD_BEFORE.search(text[max(0, start - 6) : start])
        or _THIRD_AFTER.search(text[end : end + 25])
        or _SOMEONE_BEFORE.search(text[max(0, start - 20) : start])
    )
    if someone_else and not self_near:
        w *= 0.3
    return w
