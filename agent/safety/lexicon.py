"""The lexicon: what people say when they are in danger, written as lemma patterns.

A pattern is a few lemma slots in order, separated by spaces, each a set of single-word
alternatives joined by ``|`` («хотеть|желать умереть|сдохнуть» is two slots), with up to ``gap`` other words between slots, so «не хочу я больше так жить» and
«жить вообще не хочется» are one idea each, whatever the inflection. A ``*`` at the end of an
alternative matches any lemma that starts with it. A slot ``я`` matches «меня», «мне», «мной».

Each rule has a weight: 1.0 means the words alone are enough («покончить с собой», «наглоталась
таблеток»); 0.6 means they need the meaning model (the example bank) to agree, because the same
words also come in safe messages («суицид» in a coursework topic, «режусь» in «режемся в доту»);
0.3 is a hint. A rule is ``imminent`` when it names a plan, means, time or place, or something
already done.

Negation: a rule's first slot preceded closely by «не», «нет», «not», «never» does not fire
(«я не собираюсь убивать себя»), unless the rule itself starts with the negation («не хочу жить»).
Vetoes are fixed phrases that look dangerous and are not («умираю со смеху», «хоть вешайся»,
«убить время», «покончить с прокрастинацией», «бьёт током»): a lexicon hit inside a veto's words
does not count. Frames (a film, a book, coursework, the news) halve a hit's weight: the bank decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from agent.safety.text import Word

SELF_HARM, ABUSE, MINOR, INJECTION = "self_harm", "abuse", "minor", "injection"
IMMINENT, IDEATION = "imminent", "ideation"

_NEGATORS = frozenset({"не", "нет", "ни", "никогда", "not", "never", "dont", "don't", "no", "wont", "nobodi"})
_SELF = frozenset({"я", "i", "me", "myself", "себя", "сам", "собой"})


@dataclass(frozen=True)
class Rule:
    label: str
    pattern: str
    weight: float = 1.0
    tier: str = IDEATION
    gap: int = 3


@dataclass(frozen=True)
class Hit:
    rule: Rule
    start: int  # word index of the first slot
    end: int  # word index of the last slot


R = Rule
SH, AB = SELF_HARM, ABUSE
IMM = IMMINENT

RULES: tuple[Rule, ...] = (
    # --- self-harm, Russian: wishes and thoughts -----------------------------------------------
    R(SH, "не хотеть|хотеться жить|существовать|просыпаться", gap=4),
    R(SH, "жить|существовать не хотеть|хотеться", gap=3),
    R(SH, "хотеть|хотеться|мечтать|желать умереть|сдохнуть|умирать|помереть|сгинуть", gap=2),
    R(SH, "хотеть|хотеться|мечтать исчезнуть|пропасть навсегда", gap=3),
    R(SH, "хотеть|хотеться|мечтать исчезнуть|испариться|раствориться", weight=0.6, gap=2),
    R(SH, "устать|надоесть|задолбать|заебать жить|существовать|жизнь", gap=3),
    R(SH, "незачем|нечего жить|существовать", gap=2),
    R(SH, "нет|никакой смысл жить|жизнь|существовать|просыпаться", gap=3),
    R(SH, "смысл жить|существовать нет", gap=2),
    R(SH, "не видеть смысл жить|жизнь|дальше|просыпаться|существовать", gap=3),
    R(SH, "нет|не сила|причина|повод жить", gap=3),
    R(SH, "зачем я жить|родиться|существовать", weight=0.6, gap=2),
    R(SH, "лучше бы я не родиться|быть|существовать", gap=3),
    R(SH, "лучше бы я умереть|сдохнуть|не", gap=3),
    R(SH, "без я все|всем|всех|мир|семья|мама|родитель лучше|легче|проще|спокойный|счастливый", gap=4),
    R(SH, "все|всем|мир лучше|легче|проще без я", gap=4),
    R(SH, "я только|лишь мешать|обуза|обузой|балласт", weight=0.6, gap=3),
    R(SH, "обуза|обузой для всем|всех|семья|родитель|мама", weight=0.6, gap=2),
    R(SH, "уснуть|заснуть|спать навсегда|вечно", gap=3),
    R(SH, "уснуть|заснуть не проснуться", gap=3),
    R(SH, "не проснуться бы|утро|завтра|больше", weight=0.6, gap=3),
    R(SH, "покончить с собой|жизнь", gap=2),
    R(SH, "покончить со все|всем", weight=0.6, gap=3),
    R(SH, "убить|убивать|прикончить себя", gap=2),
    R(SH, "убиться|самоубиться|выпилиться|роскомнадзорнуться|самовыпилиться", gap=1),
    R(SH, "вскрыться|вскрыть|перерезать|резать вены|вена|себе", gap=2),
    R(SH, "вены|вена резать|порезать|вскрыть|вскрывать", gap=2),
    R(SH, "повеситься|удавиться|застрелиться|утопиться|отравиться|вешаться", weight=0.6, gap=1),
    R(SH, "суицид*|самоубийств*|суицидальн*|суицидник*", weight=0.6, gap=1),
    R(SH, "мысль|думать|думка смерть|суицид*|самоубийств*|умереть", weight=0.6, gap=3),
    R(SH, "думать|мечтать|представлять как умереть|покончить|уйти", weight=0.6, gap=3),
    R(SH, "уйти|уход из жизнь", gap=2),
    R(SH, "меня больше не быть|стать", weight=0.6, gap=2),
    R(SH, "жизнь кончена|кончиться|закончиться", weight=0.6, gap=2),
    # --- self-harm, Russian: self-injury ---------------------------------------------------------
    R(SH, "резать|порезать|царапать|расцарапать|жечь|прижигать|колоть|бить себя|себе", weight=0.6, gap=2),
    R(SH, "резать|порезать|царапать|расцарапать|жечь|прижигать руки|рука|запястье|бедро|бедра|кожа|ноги", weight=0.6, gap=2),
    R(SH, "резаться|порезаться|резануться|селфхарм*|самоповрежд*|шрамы", weight=0.6, gap=1),
    R(SH, "снова|опять|начать|сорваться резаться|резать|порезаться|селфхарм*", gap=2),
    R(SH, "причинять|причинить|сделать себе больно|боль", gap=2),
    R(SH, "лезвие|бритва|лезвия", weight=0.6, gap=1),
    # --- self-harm, Russian: plans, means, done ----------------------------------------------------
    R(SH, "выпить|наглотаться|выжрать|сожрать|съесть|принять|закинуться весь|пачка|упаковка|горсть|куча|блистер таблетка|таблеток|колеса|снотворное|лекарство|пилюля|транквилизатор", tier=IMM, gap=3),
    R(SH, "наглотаться", tier=IMM, gap=1),
    R(SH, "веревка|петля|мыло купить|приготовить|готовый|висеть|крюк|люстра|уже", tier=IMM, gap=3),
    R(SH, "купить|приготовить|припасти|найти|достать веревка|петля|лезвие|яд|снотворное", tier=IMM, weight=0.6, gap=3),
    R(SH, "стоять|сидеть|залезть|подняться|забраться крыша|мост|край|подоконник|окно|балкон", tier=IMM, weight=0.6, gap=3),
    R(SH, "прыгнуть|шагнуть|сигануть|спрыгнуть|броситься|кинуться|выйти крыша|мост|окно|поезд|машина|этаж|балкон", tier=IMM, gap=3),
    R(SH, "лечь|броситься|кинуться|прыгнуть под поезд|машина|электричка|фура", tier=IMM, gap=2),
    R(SH, "сегодня|ночью|завтра|сейчас все закончить|кончить|прекратить", tier=IMM, gap=3),
    R(SH, "все закончить|кончить|закончиться|прекратить сегодня|ночью|завтра|скоро", tier=IMM, weight=0.6, gap=3),
    R(SH, "решиться|решить уйти|умереть|закончить|покончить", tier=IMM, weight=0.6, gap=2),
    R(SH, "предсмертный|прощальный записка|письмо", tier=IMM, gap=1),
    R(SH, "написать|оставить записка|письмо", tier=IMM, weight=0.6, gap=2),
    R(SH, "это мой последний сообщение|раз|день", tier=IMM, weight=0.6, gap=2),
    R(SH, "простить|прощать я все|всех", tier=IMM, weight=0.6, gap=2),
    R(SH, "прощайте|прощай все|всех", tier=IMM, weight=0.6, gap=2),
    R(SH, "больше не понадобиться|пригодиться|нужный", tier=IMM, weight=0.6, gap=3),
    R(SH, "раздать|отдать|раздарить вещи|кот|кошка|собака|все", tier=IMM, weight=0.3, gap=3),
    R(SH, "завещание", tier=IMM, weight=0.3, gap=1),
    # --- self-harm, English ---------------------------------------------------------------------
    R(SH, "kill|hurt|harm|off myself", gap=2),
    R(SH, "end|take my life", gap=2),
    R(SH, "end it all", weight=0.6, gap=1),
    R(SH, "kms|kys|unaliv*|suicid*|selfharm", weight=0.6, gap=1),
    R(SH, "self harm", weight=0.6, gap=1),
    R(SH, "want|wanna|wish die|dead|disappear|gone", weight=0.6, gap=3),
    R(SH, "want|wanna|wish die|dead|disappear forev|anymor|alreadi", gap=3),
    R(SH, "dont|don't|not want|wanna live|exist|aliv", gap=3),
    R(SH, "no reason|point live|aliv|exist|anymor|go", weight=0.6, gap=4),
    R(SH, "tire|sick|done live|life|aliv|exist", gap=3),
    R(SH, "better off without me", gap=3),
    R(SH, "everyon|world|they|famili better|easier without me", gap=4),
    R(SH, "sleep|asleep never|not wake", gap=3),
    R(SH, "never|not wake up", weight=0.6, gap=1),
    R(SH, "cut|burn|scratch|hit myself", weight=0.6, gap=2),
    R(SH, "cut|slit|burn wrist|arm|thigh|vein", weight=0.6, gap=2),
    R(SH, "relaps*", weight=0.6, gap=1),
    R(SH, "cut again", gap=2),
    R(SH, "swallow|took|take|down all|whole|bottl|pack|hand|handful|bunch pill|tablet|sleep", tier=IMM, gap=4),
    R(SH, "overdos*", tier=IMM, weight=0.6, gap=1),
    R(SH, "rope|noos|pill|blade|gun bought|readi|tie|got|load", tier=IMM, weight=0.6, gap=3),
    R(SH, "bought|got|have rope|noos|gun|blade", tier=IMM, weight=0.6, gap=3),
    R(SH, "stand|sit on|at edg|roof|bridg|ledg", tier=IMM, gap=3),
    R(SH, "jump|step off|from roof|bridg|build|window|balconi|ledg", tier=IMM, gap=3),
    R(SH, "jump|step|lie front train|car|bus|truck", tier=IMM, gap=3),
    R(SH, "tonight|today end|do it|everyth", tier=IMM, weight=0.6, gap=3),
    R(SH, "end it tonight|today|now|soon", tier=IMM, gap=2),
    R(SH, "suicid|goodby note|letter", tier=IMM, gap=2),
    R(SH, "give away my thing|stuff|cat|dog|everyth", tier=IMM, weight=0.6, gap=3),
    R(SH, "won't|wont need it|them anymor", tier=IMM, weight=0.6, gap=3),
    R(SH, "last messag", tier=IMM, weight=0.6, gap=1),
    R(SH, "goodby everyon|forev|world", tier=IMM, weight=0.6, gap=2),
    # --- abuse, Russian -------------------------------------------------------------------------
    R(AB, "бить|избивать|избить|ударить|лупить|колотить|душить|придушить|пинать|пнуть|толкнуть|швырнуть|таскать|хлестать|пороть|стукнуть|отлупить|выпороть я", gap=3),
    R(AB, "я бить|избивать|избить|ударить|лупить|колотить|душить|придушить|пинать|пнуть|толкнуть|швырнуть|таскать|хлестать|пороть|стукнуть|отлупить|выпороть", gap=3),
    R(AB, "поднять|поднимать на я руку|рука", gap=3),
    R(AB, "поднять|поднимать руку|рука на я", gap=3),
    R(AB, "изнасиловать|насиловать|домогаться|приставать|лапать|трогать я", gap=3),
    R(AB, "я изнасиловать|насиловать|домогаться|лапать", gap=3),
    R(AB, "изнасилование|насилие|абьюз*|абьюзер*|тиран*", weight=0.6, gap=1),
    R(AB, "угрожать|грозиться|обещать убить|убийство|зарезать|прибить|прикончить|закопать", gap=3),
    R(AB, "убить|прибить|зарезать|закопать я если", gap=3),
    R(AB, "синяк|синяки|побои|ссадина замазывать|прятать|скрывать|тональник|тональный", gap=4),
    R(AB, "забирать|отбирать|отобрать|забрать телефон|деньги|зарплата|паспорт|карта", weight=0.6, gap=3),
    R(AB, "не выпускать|выпускать|пускать|запирать|запереть я|дом|квартира", weight=0.6, gap=3),
    R(AB, "следить|проверять мой телефон|переписка", weight=0.3, gap=3),
    R(AB, "ломиться|выламывать|выбивать|выбить дверь", tier=IMM, gap=3),
    R(AB, "спрятаться|запереться|закрыться ванна|ванная|туалет|комната|шкаф", tier=IMM, weight=0.6, gap=3),
    R(AB, "нож|ножом|топор|пистолет|ружье", tier=IMM, weight=0.6, gap=2),
    R(AB, "сейчас убить|прибить|убивать", tier=IMM, gap=2),
    R(AB, "убить я сейчас|сегодня", tier=IMM, gap=3),
    R(AB, "бояться идти|возвращаться|вернуться домой|дом", weight=0.3, gap=3),
    # --- abuse, English -------------------------------------------------------------------------
    R(AB, "hit|beat|punch|slap|choke|chok|kick|shove|strangl|hurt|grab me", gap=3),
    R(AB, "rape|molest|touch me", weight=0.6, gap=2),
    R(AB, "rape|molest|assault", weight=0.6, gap=1),
    R(AB, "threaten|threat kill|hurt me", gap=4),
    R(AB, "kill me if", gap=2),
    R(AB, "abus*", weight=0.6, gap=1),
    R(AB, "domest violenc", gap=1),
    R(AB, "hide|cover bruis*|mark", gap=3),
    R(AB, "take|took|control my phone|money|passport|card", weight=0.3, gap=3),
    R(AB, "lock me in|out", weight=0.6, gap=2),
    R(AB, "bang|kick|break door", tier=IMM, gap=3),
    R(AB, "hid|hide|lock myself bathroom|closet|room", tier=IMM, weight=0.6, gap=3),
    R(AB, "knife|gun", tier=IMM, weight=0.6, gap=2),
)

# What looks dangerous and is not: a rule hit whose words lie inside one of these does not count.
VETOES: tuple[str, ...] = (
    "умирать|умереть|помирать|сдохнуть|сдыхать со|от смех|смеха|скука|кринж|стыд|голод|жара|любопытство|усталость|зависть",
    "умереть|умирать|сдохнуть можно|мочь",
    "хоть вешаться|повеситься|стреляться|застрелиться|убиться",
    "убить|убивать время|вечер",
    "убить бы за",
    "убить|прибить за кофе|шоколадка|пицца|кусок",
    "покончить|закончить с прокрастинация|долг|курение|отношение|привычка|ремонт|работа|учеба|диета|сериал",
    "бить|ударить|бьет током|ток",
    "резаться|рубиться|играть в",
    "я бить|ударить мяч|мячом|шайба|шайбой|тренер|тренировка|спарринг",
    "ударить|удариться об|о|головой|коленом",
    "бить|избить|ударить в игра|на тренировка|на спарринг",
    "die laugh|of laughter|of embarrass|of boredom",
    "dy laugh|of embarrass",
    "kill for",
    "kill time",
    "this|deadlin|work|traffic|heat kill me",
    "kill me lol|lmao|haha",
    "my phone|batteri die|dead",
    "dead tire|tired",
)

# A frame that makes the words about something else: a film, a book, coursework, the news.
FRAMES = frozenset(
    """фильм сериал книга роман песня трек игра аниме мультик реферат доклад курсовая курсовой диплом
    статья эссе сочинение новость новости лекция исследование персонаж герой героиня сюжет серия
    film movie book novel song game anim essay report paper thesi articl news lectur research
    charact episod season""".split()
)


@dataclass(frozen=True)
class _Slot:
    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def matches(self, word: Word) -> bool:
        if word.lemma in self.exact or word.form in self.exact:
            return True
        if "я" in self.exact and word.lemma in _SELF:
            return True
        return any(word.lemma.startswith(p) or word.form.startswith(p) for p in self.prefixes)


@cache
def _slots(pattern: str) -> tuple[_Slot, ...]:
    slots = []
    for element in pattern.split():
        alts = element.split("|")
        slots.append(
            _Slot(
                frozenset(a for a in alts if not a.endswith("*")),
                tuple(a[:-1] for a in alts if a.endswith("*")),
            )
        )
    return tuple(slots)


def _match(slots: tuple[_Slot, ...], ws: list[Word], gap: int) -> list[tuple[int, int]]:
    """Every (first, last) word index where the slots match in order with at most ``gap`` words
    between neighbours."""
    spans = []
    for i, word in enumerate(ws):
        if not slots[0].matches(word):
            continue
        pos, ok = i, True
        for slot in slots[1:]:
            for j in range(pos + 1, min(len(ws), pos + gap + 2)):
                if slot.matches(ws[j]):
                    pos = j
                    break
            else:
                ok = False
                break
        if ok:
            spans.append((i, pos))
    return spans


def _negated(ws: list[Word], start: int, pattern: str) -> bool:
    if pattern.split()[0].split("|")[0] in _NEGATORS:
        return False
    return any(w.lemma in _NEGATORS or w.form in _NEGATORS for w in ws[max(0, start - 2) : start])


def vetoed_spans(ws: list[Word]) -> list[tuple[int, int]]:
    return [span for veto in VETOES for span in _match(_slots(veto), ws, 2)]


def lexicon_hits(ws: list[Word]) -> list[Hit]:
    """Every rule that fires in the message, vetoes and negation applied."""
    vetoes = vetoed_spans(ws)
    hits = []
    for rule in RULES:
        for start, end in _match(_slots(rule.pattern), ws, rule.gap):
            if _negated(ws, start, rule.pattern):
                continue
            if any(vs <= start and end <= ve or vs <= start <= ve or vs <= end <= ve for vs, ve in vetoes):
                continue
            hits.append(Hit(rule, start, end))
            break
    return hits


def framed(ws: list[Word]) -> bool:
    """The message is about a film, a book, coursework or the news."""
    return any(w.lemma in FRAMES or w.form in FRAMES for w in ws)
