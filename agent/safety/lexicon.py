"""The lexicon: what people say when they are in danger, written as lemma patterns.

A pattern is a few lemma slots in order, separated by spaces; a slot lists single-word
alternatives joined by ``|`` («хотеть|желать умереть|сдохнуть» is two slots) and may name a
concept (``@DIE``: умереть, сдохнуть, помереть…) defined once below. Up to ``gap`` other words
may stand between slots, so «не хочу я больше так жить» and «жить вообще не хочется» are one idea
each, whatever the inflection. ``*`` ends a prefix («суицид*»). A word matches a slot by any of
its plausible lemmas («стою» is «стоять» as well as «стоить»). The slot ``я`` matches «меня»,
«мне», «мной», «себя».

Each rule has a weight: 1.0 means the words alone are enough («покончить с собой», «наглоталась
таблеток»); 0.6 means they need the meaning model (the example bank) to agree, because the same
words come in safe messages too («суицид» as a coursework topic, «режусь» in «режемся в доту»);
0.3 is a hint. A rule is ``imminent`` when it names a plan, means, a time or a place, or
something already done.

What keeps it from crying wolf:
- negation: a rule's first slot preceded closely by «не», «нет», «not», «never» does not fire
  («я не собираюсь убивать себя»), unless the rule itself is about the negation («не хочу жить»);
- vetoes: fixed phrases that look dangerous and are not («умираю со смеху», «хоть вешайся»,
  «убить время», «покончить с прокрастинацией», «бьёт током»): a hit inside one does not count;
- frames: a film, a book, coursework, the news, or someone else as the subject («у подруги муж…»,
  «мой друг говорит, что…») halve a hit's weight, and the bank decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from agent.safety.text import Word

SELF_HARM, ABUSE, MINOR, INJECTION = "self_harm", "abuse", "minor", "injection"
IMMINENT, IDEATION = "imminent", "ideation"

_NEGATORS = frozenset(
    {"не", "нет", "ни", "никогда", "никакой", "без", "not", "never", "dont", "don't", "no", "wont", "nobodi"}
)
_SELF = frozenset({"я", "i", "me", "myself", "себя", "сам", "собой", "себе"})

CONCEPTS: dict[str, str] = {
    # dying and not being
    "DIE": "умереть|умирать|сдохнуть|подохнуть|помереть|помирать|сгинуть|погибнуть|издохнуть|загнуться|"
    "окочуриться|подыхать|сдыхать",
    "VANISH": "исчезнуть|исчезать|пропасть|раствориться|испариться|уйти|не",
    "LIVE": "жить|жизнь|существовать|просыпаться|проснуться|дышать|житие|жыть",
    "WANT": "хотеть|хотеться|мечтать|желать|желание|мечта|охота|пора|надо",
    "TIRED": "устать|надоесть|задолбать|заебать|достать|заколебать|осточертеть|опостылеть|замучиться|"
    "утомить|уставать",
    "POINTLESS": "незачем|нечего|смысл|бессмысленный|бессмысленно|зачем|нафига|нахрена|нафиг|ради",
    "SELF": "себя|себе|собой|сам|сама",
    # self-injury
    "INJURE": "резать|порезать|резаться|порезаться|резануть|резануться|царапать|расцарапать|"
    "исцарапать|выцарапать|жечь|прижигать|прижечь|обжигать|бить|избивать|колотить|кусать|покусать|щипать|"
    "ковырять|расковырять|раздирать|драть|расчесать|расчесывать|вырывать|уродовать|калечить|"
    "покалечить|наносить|ранить|бить",
    "SKIN": "рука|руки|запястье|запястья|бедро|бедра|кожа|нога|ноги|вена|вены|живот|плечо|лицо|тело|"
    "предплечье|палец|пальцы",
    "INJURY": "порез|порезы|шрам|шрамы|рана|раны|ожог|ожоги|синяк|синяки|царапина|следы",
    "BLADE": "лезвие|бритва|нож|ножик|канцелярский|скальпель|стекло|осколок|циркуль|игла",
    # means and plans
    "PILLS": "таблетка|таблетки|колесо|колеса|табл|таблы|снотворное|лекарство|препарат|пилюля|"
    "транквилизатор|антидепрессант|феназепам|парацетамол|амитриптилин|ибупрофен|аспирин|"
    "реланиум|димедрол|корвалол|фенибут|кветиапин|зопиклон|трамадол|нурофен|анальгин|"
    "успокоительное|нейролептик|барбитурат|яд|отрава|уксус|таблетосы|отбеливатель|хлорка|белизна|"
    "антифриз|растворитель|крысиный",
    "TAKE": "выпить|пить|наглотаться|выжрать|сожрать|съесть|наесться|принять|закинуться|проглотить|"
    "глотать|нажраться|заглотить",
    "MANY": "весь|вся|всё|все|пачка|упаковка|горсть|куча|блистер|банка|пузырек|флакон|штука|много|"
    "сколько|десяток|пол|половина|два|три|двадцать|тридцать|сорок|пятьдесят|сто",
    "ROPE": "веревка|петля|мыло|шарф|ремень|провод|шнур|крюк|люстра|перекладина",
    "HIGH": "крыша|мост|край|подоконник|окно|балкон|этаж|перила|карниз|обрыв|скала|высота|"
    "многоэтажка|девятиэтажка|высотка",
    "TRACKS": "поезд|электричка|рельсы|пути|железка|железная|платформа|машина|фура|грузовик|трасса|"
    "метро|автобус|столб",
    "GUN": "ружье|пистолет|ствол|обрез|патрон|патроны|травмат",
    "GAS": "газ|конфорка|конфорки|выхлоп|угарный",
    "JUMP": "прыгнуть|прыгать|шагнуть|шагать|сигануть|спрыгнуть|броситься|кинуться|упасть|выйти|"
    "выброситься|сброситься|полететь|лететь",
    "WHEN": "сегодня|ночью|ночь|завтра|сейчас|щас|утром|вечером|суббота|воскресенье|пятница|"
    "понедельник|вторник|среда|четверг|скоро|вот-вот|минута|час|выходные",
    "DECIDE": "решить|решиться|решено|решение|продумать|спланировать|выбрать|придумать|знать",
    "END": "закончить|кончить|прекратить|покончить|оборвать|заканчивать|завершить|конец",
    "FAREWELL": "прощай|прощайте|прощать|простить|прощаться|попрощаться|напоследок|последний",
    "NOTE": "записка|письмо|письма|завещание|послание",
    "NOBODY": "никто|никому",
    "BURDEN": "обуза|обузой|груз|балласт|лишний|помеха|мешать|тянуть|тащить",
    # abuse
    "HIT": "бить|избивать|избить|ударить|ударять|лупить|отлупить|колотить|поколотить|душить|"
    "придушить|задушить|пинать|пнуть|толкать|толкнуть|швырнуть|швырять|таскать|хлестать|"
    "отхлестать|пороть|выпороть|стукнуть|бросаться|кидаться|замахиваться|замахнуться|"
    "вмазать|врезать|ударить|треснуть|тыкать|прижать|прижимать|схватить|хватать|"
    "вывернуть|выкручивать|сломать|разбить|столкнуть|наказывать|побить|отметелить|"
    "гонять|гоняться|запинать|запинывать|выгнать|выставить|облить",
    "SLAP": "пощечина|затрещина|подзатыльник|оплеуха|лещ|пинок|ремень|тумак|пендель",
    "RAPE": "изнасиловать|насиловать|домогаться|приставать|лапать|трогать|заставлять|принуждать|"
    "совращать|растлевать",
    "THREAT": "угрожать|грозиться|грозить|обещать|пообещать|сказать|шантажировать|писать|орать|"
    "кричать|шептать",
    "KILL": "убить|убью|прибить|зарезать|закопать|прикончить|покалечить|изуродовать|сломать|"
    "урыть|порешить|задушить|пришибить|замочить|конец|пожалеть|плеснуть",
    "ABUSER": "муж|парень|бывший|бывшая|жена|отец|папа|отчим|мать|мама|мачеха|брат|сестра|сожитель|"
    "дядя|тетя|дед|дедушка|бабушка|свекровь|свекор|тесть|теща|сын|внук|одноклассник|одноклассница|"
    "одноклассники|тренер|учитель|учительница|сосед|партнер|он|она|они|мужик|бойфренд|"
    "супруг|опекун|родитель|родители|предки|парни|пацаны|ребята|девчонки",
    "CONTROL": "забирать|отбирать|отобрать|забрать|отнимать|отнять|прятать|спрятать|проверять|"
    "контролировать|читать|следить|запрещать|запретить|не",
    "HOLD": "выпускать|выпустить|пускать|пустить|отпускать|запирать|запереть|закрывать|закрыть",
    "HOME": "дом|квартира|комната|дверь|машина|подъезд",
    "HIDE": "спрятаться|прятаться|запереться|закрыться|забаррикадироваться|сидеть|держать",
    "SHELTER": "ванна|ванная|туалет|комната|шкаф|кровать|подъезд|соседка|соседи|лестница|одеяло",
    "WEAPON": "нож|ножом|топор|пистолет|ружье|бита|молоток|кислота|ствол|ремень|скалка|палка",
    "VIOLENCE_N": "изнасилование|насилие|абьюз|абьюзер|абьюзивный|тиран|побои|домогательство|"
    "абьюзить|харассмент|буллинг|травля",
    "ME": "меня|мне|мной|me",
    # English (Snowball stems)
    "EN_DIE": "die|dead|death|gone|disappear|vanish|unaliv|exist|wake|aliv|live|here",
    "EN_WANT": "want|wanna|wish|hope|pray|readi|plan|go|gonna|tri|think",
    "EN_KILL": "kill|end|off|hurt|harm|unaliv|cut|burn|scratch|hit|punch|starv|drown|hang|shoot",
    "EN_PILLS": "pill|tablet|meds|med|medic|sleep|xanax|tylenol|ibuprofen|advil|oxi|oxy|percocet|"
    "paracetamol|benzo|antidepress|prescript|insulin|poison|bleach",
    "EN_TAKE": "took|take|swallow|down|drank|drink|pop|ate|eat|overdos|chug",
    "EN_MANY": "all|whole|bottl|pack|hand|handful|bunch|lot|enough|everi|entir|half|20|30|40|50|60|"
    "dozen|hundr|stash|box",
    "EN_HIGH": "roof|rooftop|bridg|ledg|edg|cliff|balconi|window|build|floor|overpass|tower|pier",
    "EN_TRACKS": "train|track|car|truck|bus|highway|traffic|lane|wall|tree",
    "EN_MEANS": "rope|noos|gun|blade|razor|knife|charcoal|belt|cord|pistol|rifl|bullet|ammo",
    "EN_WHEN": "tonight|today|tomorrow|tmrw|now|rn|soon|weekend|friday|saturday|sunday|monday|hour|"
    "minut|morn|birthday",
    "EN_NOTE": "note|letter|goodby|will|farewel|messag|email",
    "EN_HIT": "hit|beat|punch|slap|choke|chok|kick|shove|strangl|hurt|grab|push|throw|threw|drag|"
    "pin|smack|whip|pull|burn|lock|bruis|strike|attack|spit",
    "EN_ABUSER": "he|she|they|husband|boyfriend|bf|ex|wife|girlfriend|gf|dad|father|stepdad|mom|mum|"
    "mother|stepmom|brother|sister|uncl|aunt|partner|coach|teacher|parent|grandpa|cousin|"
    "classmat|guy|kid",
}


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
    # --- self-harm, Russian: wishes and thoughts ---------------------------------------------------
    R(SH, "не @WANT @LIVE", gap=4),
    R(SH, "@LIVE не @WANT|мочь", gap=3),
    R(SH, "@WANT @DIE", gap=3),
    R(SH, "@DIE @WANT", weight=0.6, gap=2),
    R(SH, "@WANT @VANISH навсегда|насовсем|совсем|вообще|нахрен", gap=4),
    R(SH, "@WANT исчезнуть|раствориться|испариться|перестать|выключить|стереть", weight=0.6, gap=3),
    R(SH, "перестать существовать|жить|быть", gap=2),
    R(SH, "@TIRED @LIVE|быть", gap=3),
    R(SH, "@POINTLESS @LIVE", gap=3),
    R(SH, "@LIVE @POINTLESS", weight=0.6, gap=2),
    R(SH, "нет|никакой|потерять|видеть смысл|сила|причина|повод @LIVE|продолжать|дальше|тянуть", gap=4),
    R(SH, "@WANT не @LIVE|быть", gap=3),
    R(SH, "зачем|нафига|почему я вообще|вообще-то родиться|живой|жить", gap=3),
    R(SH, "я никому|никто не нужный|нужен|нужна", weight=0.6, gap=3),
    R(SH, "мертвый внутри", weight=0.6, gap=2),
    R(SH, "хоть|вот|если бы @DIE|смертельный|сбить|разбиться|упасть|погибнуть", weight=0.6, gap=4),
    R(SH, "не страшно|бояться @DIE|смерть", weight=0.6, gap=2),
    R(SH, "не мочь больше|так @LIVE", weight=0.6, gap=3),
    R(SH, "со все|всем покончить|закончить", weight=0.6, gap=3),
    R(SH, "можно|пора уходить|уйти", weight=0.6, gap=2),
    R(SH, "сбить|задавить|переехать я", weight=0.3, gap=3),
    R(SH, "не удержаться|сдержаться", weight=0.3, gap=1),
    R(SH, "бог|господь|смерть забрать|прибрать я", gap=3),
    R(SH, "не за что держаться|цепляться", weight=0.6, gap=2),
    R(SH, "не хотеть держаться|бороться|терпеть|стараться", weight=0.6, gap=2),
    R(SH, "печень|сердце отказать|сдать|остановиться", weight=0.6, gap=3),
    R(SH, "ванна|ванне|ванная фен|феном|утюг|тостер|провод", tier=IMM, gap=4),
    R(SH, "кровь|крови лужа|течь|хлестать|останавливаться|остановить", tier=IMM, weight=0.6, gap=3),
    R(SH, "резать|режу глубоко|глубже|вдоль", tier=IMM, weight=0.6, gap=2),
    R(SH, "без порез*|селфхарм*|самоповрежд*", weight=0.6, gap=2),
    R(SH, "наглотаться|наесться|нажраться|наелась @PILLS", tier=IMM, gap=3),
    R(SH, "painless way|method|death|suicid", gap=2),
    R(SH, "way|method to die", gap=2),
    R(SH, "life insur*", weight=0.6, gap=1),
    R(SH, "count|stockpil|save|hoard|collect @EN_PILLS", tier=IMM, weight=0.6, gap=4),
    R(SH, "hope|wish|pray car|truck|bus|plane|train hit|crash|go|goe", weight=0.6, gap=4),
    R(SH, "bang|hit|punch|slam my head wall", weight=0.6, gap=4),
    R(SH, "if i die|disappear|gone|wasnt|weren't", weight=0.6, gap=2),
    R(SH, "urg to cut|die|hurt|harm|end", gap=2),
    R(SH, "лучше бы я не @LIVE|родиться|быть", gap=4),
    R(SH, "лучше бы я @DIE|не", gap=4),
    R(SH, "лучше бы я|меня не быть|было", gap=4),
    R(SH, "я|меня не быть|стать|станет", weight=0.6, gap=2),
    R(SH, "если|когда я|меня не стать|станет|быть", weight=0.6, gap=3),
    R(SH, "если я @DIE|исчезнуть|уйти", weight=0.6, gap=3),
    R(SH, "без я лучше|легче|проще|полегчать|спокойный|счастливый|справиться|потерять|заметить", gap=5),
    R(SH, "все|всем|мир|им|они|семья лучше|легче|проще|полегчать без я", gap=4),
    R(SH, "я @BURDEN", weight=0.6, gap=3),
    R(SH, "@BURDEN для|всем|всех", weight=0.6, gap=2),
    R(SH, "уснуть|заснуть|спать|лечь навсегда|вечно", gap=4),
    R(SH, "уснуть|заснуть|лечь не проснуться|вставать|просыпаться", gap=4),
    R(SH, "не проснуться|просыпаться|наступить", weight=0.6, gap=3),
    R(SH, "покончить с собой|жизнь", gap=2),
    R(SH, "покончить|закончить|заканчивать со все|всем|этим", weight=0.6, gap=3),
    R(SH, "убить|убивать|прикончить|уничтожить|грохнуть себя", gap=2),
    R(
        SH,
        "убиться|самоубиться|выпилиться|роскомнадзорнуться|самовыпилиться|вскрыться|отравиться|"
        "повеситься|удавиться|застрелиться|утопиться|вешаться|травиться|выпиливаться",
        weight=0.6,
        gap=1,
    ),
    R(SH, "вскрыть|вскрывать|перерезать|резать|порезать вены|вена|горло", gap=2),
    R(SH, "суицид*|самоубийств*|суицидальн*|суицидник*|суицидить", weight=0.6, gap=1),
    R(
        SH,
        "мысль|думать|думка|представлять|мечтать смерть|суицид*|самоубийств*|умереть|похороны|уход|уйти",
        weight=0.6,
        gap=4,
    ),
    R(
        SH,
        "думать|мечтать|представлять|знать|решить как|каким уйти|@DIE|покончить|сделать|это",
        weight=0.6,
        gap=3,
    ),
    R(SH, "уйти|уход из жизнь", gap=2),
    R(SH, "свести счеты жизнь", gap=3),
    R(SH, "уйти насовсем|навсегда|из", weight=0.6, gap=2),
    R(SH, "жизнь кончена|кончиться|закончиться|прожить|зря", weight=0.6, gap=2),
    R(SH, "пора|надо заканчивать|закончить|уходить|кончать", weight=0.6, gap=3),
    R(SH, "завидовать тот|тем|мертвый|умерший|умереть|он", weight=0.6, gap=3),
    R(SH, "не доживать|дожить|дотянуть до", weight=0.6, gap=2),
    R(SH, "опять|снова|еще живой|живая|проснуться", weight=0.6, gap=2),
    R(SH, "ничто|ничего не держать", gap=3),
    R(SH, "никто не заметить|заметит|вспомнить|хватиться|плакать", weight=0.6, gap=4),
    R(SH, "я @DIE|умру", weight=0.3, gap=2),
    # --- self-harm, Russian: self-injury -------------------------------------------------------------
    R(SH, "@INJURE @SELF", weight=0.6, gap=2),
    R(SH, "@INJURE @SKIN", weight=0.6, gap=3),
    R(SH, "@INJURE до кровь|синяк|мясо|шрам", gap=4),
    R(SH, "резаться|порезаться|резануться|селфхарм*|самоповрежд*|сх", weight=0.6, gap=1),
    R(
        SH,
        "снова|опять|начать|сорваться|тянуть|хотеться|потянуть резаться|порезаться|лезвие|селфхарм*|порез",
        gap=3,
    ),
    R(SH, "причинять|причинить|сделать себе больно|боль|вред", gap=3),
    R(SH, "@SKIN в @INJURY", weight=0.6, gap=2),
    R(SH, "@INJURY на @SKIN", weight=0.6, gap=2),
    R(SH, "новый @INJURY", weight=0.6, gap=1),
    R(SH, "@BLADE", weight=0.3, gap=1),
    # --- self-harm, Russian: plans, means, done --------------------------------------------------------
    R(SH, "@TAKE @MANY @PILLS", tier=IMM, gap=4),
    R(SH, "@MANY @PILLS @TAKE", tier=IMM, gap=4),
    R(SH, "@TAKE @PILLS", tier=IMM, weight=0.6, gap=3),
    R(SH, "наглотаться|нажраться|наесться|отравиться", tier=IMM, weight=0.6, gap=1),
    R(
        SH,
        "накопить|собрать|купить|приготовить|припасти|достать|взять|найти|скопить|отсчитать|пересчитать "
        "@PILLS|@ROPE|лезвие|яд",
        tier=IMM,
        weight=0.6,
        gap=4,
    ),
    R(
        SH,
        "@PILLS @WHEN|готовый|готов|лежать|хватить|хватит|отсчитать|пересчитать",
        tier=IMM,
        weight=0.6,
        gap=4,
    ),
    # the means in hand, taken or loaded («держу лезвие», «ружьё заряжено»): the embedder must agree
    # (a kitchen knife, a hunting trip)
    R(SH, "взять|держать|достать|зарядить @BLADE|@GUN", tier=IMM, weight=0.6, gap=3),
    R(SH, "@BLADE|@GUN в рука|руке|руках", tier=IMM, weight=0.6, gap=2),
    R(SH, "@GUN заряжать|заряженный|зарядить|заряжен", tier=IMM, weight=0.6, gap=2),
    R(SH, "@ROPE купить|приготовить|готовый|висеть|привязать|завязать|уже|рука|руке", tier=IMM, gap=3),
    # the means carried («верёвка в рюкзаке», «лезвие в кармане»): the embedder must agree (a tent's rope)
    R(SH, "@ROPE|лезвие в|с рюкзак|сумка|карман|собой|багажник", tier=IMM, weight=0.6, gap=2),
    R(SH, "стоять|сидеть|залезть|подняться|забраться|быть|стою @HIGH", tier=IMM, weight=0.6, gap=3),
    R(SH, "за перила|край|окно", tier=IMM, weight=0.6, gap=1),
    R(SH, "@JUMP @HIGH|@TRACKS|вниз|под", tier=IMM, weight=0.6, gap=3),
    R(SH, "@WANT|@WHEN|@DECIDE|пойти|иду @JUMP @HIGH|@TRACKS|под|вниз", tier=IMM, gap=3),
    R(SH, "под @TRACKS", tier=IMM, weight=0.6, gap=2),
    R(SH, "@GUN", tier=IMM, weight=0.3, gap=1),
    R(SH, "@GAS открыть|включить|включил", tier=IMM, weight=0.6, gap=3),
    R(SH, "открыть|включить @GAS", tier=IMM, weight=0.6, gap=3),
    R(SH, "@WHEN все|всё закончить|кончить|прекратить|решиться|сделать|уйти|покончить", tier=IMM, gap=3),
    R(SH, "@END @WHEN", tier=IMM, weight=0.6, gap=3),
    R(SH, "все|всё решено|решить|решила|готово|продумать", tier=IMM, weight=0.6, gap=2),
    R(SH, "@DECIDE как|где|когда|способ", tier=IMM, weight=0.6, gap=3),
    R(SH, "@DECIDE @END|уйти|@DIE|покончить", tier=IMM, weight=0.6, gap=3),
    R(SH, "время прийти|настать", tier=IMM, weight=0.6, gap=1),
    R(SH, "предсмертный|прощальный записка|письмо|сообщение", tier=IMM, gap=1),
    R(SH, "написать|оставить|писать @NOTE", tier=IMM, weight=0.6, gap=3),
    R(SH, "последний сообщение|раз|день|ночь|час", tier=IMM, weight=0.6, gap=2),
    R(SH, "остаться пара|несколько|час|день", tier=IMM, weight=0.3, gap=2),
    R(SH, "@FAREWELL", tier=IMM, weight=0.3, gap=1),
    R(SH, "простить|прости я|все|всех|мама|мам|пап", tier=IMM, weight=0.6, gap=2),
    R(SH, "прощай|прощайте|попрощаться|прощаться", tier=IMM, weight=0.6, gap=1),
    R(SH, "спасибо за все|всё", tier=IMM, weight=0.3, gap=1),
    R(SH, "больше|уже не понадобиться|пригодиться|нужный|нужен|нужно", tier=IMM, weight=0.6, gap=3),
    R(SH, "ни к чему", tier=IMM, weight=0.3, gap=1),
    R(SH, "@WHEN @END|покончить|уйти|решиться", tier=IMM, weight=0.6, gap=4),
    R(SH, "сделать это @WHEN", tier=IMM, weight=0.6, gap=3),
    R(SH, "письмо|письма|записка написать|оставить|лежать", tier=IMM, weight=0.6, gap=3),
    R(SH, "рука|руке @ROPE|@PILLS|лезвие", tier=IMM, weight=0.6, gap=2),
    R(SH, "разогнаться|разогнать|разогнаю|разгонять столб|стена|отбойник|встречка|обрыв", tier=IMM, gap=5),
    R(SH, "пойти|идти|поехать|пойду на|к @HIGH|@TRACKS", tier=IMM, weight=0.6, gap=3),
    R(
        SH,
        "раздать|отдать|раздарить|раздавать вещи|кот|кошка|собака|все|даром|книги",
        tier=IMM,
        weight=0.6,
        gap=3,
    ),
    R(SH, "меня завтра не быть|стать", tier=IMM, gap=3),
    R(SH, "завещание", tier=IMM, weight=0.3, gap=1),
    # --- self-harm, English --------------------------------------------------------------------------
    R(SH, "@EN_KILL myself", gap=2),
    R(SH, "end|take my life", gap=2),
    R(SH, "end it all|everyth", weight=0.6, gap=2),
    R(SH, "kms|kys|unaliv*|suicid*|selfharm|sh", weight=0.6, gap=1),
    R(SH, "self harm", weight=0.6, gap=1),
    R(SH, "@EN_WANT die|dead|disappear|vanish|unaliv", weight=0.6, gap=3),
    R(SH, "@EN_WANT to die", gap=2),
    R(SH, "@EN_WANT die|dead|disappear|gone forev|anymor|alreadi", gap=4),
    R(SH, "dont|don't|not want|wanna live|exist|aliv|be|wake", gap=3),
    R(SH, "stop exist|live|be", gap=2),
    R(SH, "no reason|point live|aliv|exist|anymor|go|be|stay|tri", weight=0.6, gap=4),
    R(SH, "tire|sick|done live|life|aliv|exist|be", gap=3),
    R(SH, "better off dead|without", gap=3),
    R(SH, "everyon|world|they|famili|kid|parent|he|she better|easier|fine without me", gap=4),
    R(SH, "never|not wake", weight=0.6, gap=2),
    R(SH, "never been born", gap=2),
    R(SH, "burden", weight=0.6, gap=1),
    R(SH, "wast of space|air|oxygen", weight=0.6, gap=2),
    R(SH, "take up space", weight=0.6, gap=2),
    R(SH, "cut|burn|scratch|hit|punch|bite|hurt|starv myself", weight=0.6, gap=2),
    R(SH, "cut|slit|burn|scratch wrist|arm|thigh|vein|skin", weight=0.6, gap=3),
    R(SH, "relaps*", weight=0.6, gap=1),
    R(SH, "cut|cutting again", gap=2),
    R(SH, "until|till they bled|bleed|blood", weight=0.6, gap=3),
    R(SH, "@EN_TAKE @EN_MANY @EN_PILLS", tier=IMM, gap=5),
    R(SH, "@EN_TAKE @EN_PILLS", tier=IMM, weight=0.6, gap=3),
    R(SH, "overdos*", tier=IMM, weight=0.6, gap=1),
    R(SH, "@EN_MEANS bought|readi|tie|got|load|hand|ready", tier=IMM, weight=0.6, gap=3),
    R(SH, "bought|got|have|hold|tie @EN_MEANS", tier=IMM, weight=0.6, gap=3),
    R(SH, "stand|sit|stood|on|at edg|@EN_HIGH", tier=IMM, weight=0.6, gap=3),
    R(SH, "jump|step|walk|drive off|from|into @EN_HIGH|@EN_TRACKS", tier=IMM, gap=3),
    R(SH, "front of @EN_TRACKS", tier=IMM, weight=0.6, gap=2),
    R(SH, "@EN_WHEN is it|the", tier=IMM, weight=0.3, gap=2),
    R(SH, "do it @EN_WHEN", tier=IMM, weight=0.6, gap=1),
    R(SH, "set|pick|chose a date|day", tier=IMM, weight=0.6, gap=2),
    R(SH, "suicid|goodby note|letter|msg|messag", tier=IMM, gap=2),
    R(SH, "wrote|write|left @EN_NOTE", tier=IMM, weight=0.6, gap=3),
    R(SH, "give|gave away my thing|stuff|cat|dog|everyth|guitar", tier=IMM, weight=0.6, gap=4),
    R(SH, "won't|wont need it|them|ani anymor", tier=IMM, weight=0.6, gap=3),
    R(SH, "last messag|time", tier=IMM, weight=0.3, gap=1),
    R(SH, "final msg|messag|note|text|goodby", tier=IMM, weight=0.6, gap=1),
    R(SH, "im|i'm|am done @EN_WHEN", tier=IMM, weight=0.6, gap=2),
    R(SH, "goodby everyon|forev|world", tier=IMM, weight=0.6, gap=2),
    R(SH, "engin run", tier=IMM, weight=0.6, gap=2),
    # --- abuse, Russian -----------------------------------------------------------------------------
    # «дать» hits only with where or what («дал мне по лицу», «дал пощёчину»): alone it gives («мне его
    # дали» of a pay rise)
    R(AB, "дать|давать по лицо|морда|рожа|голова|башка|лоб|зуб|губа|ребро|почка|шея|ухо|живот", gap=3),
    R(AB, "дать|давать|влепить|отвесить @ME @SLAP", gap=2),
    R(AB, "дать|давать|влепить|отвесить @SLAP", weight=0.6, gap=2),
    R(AB, "@HIT @ME", gap=2),
    R(AB, "@ME @HIT", gap=2),
    R(AB, "поднять|поднимать на @ME руку|рука", gap=3),
    R(AB, "поднять|поднимать руку|рука на @ME", gap=3),
    R(AB, "@RAPE @ME", gap=3),
    R(AB, "@ME @RAPE", gap=3),
    R(AB, "брать|взять силой", gap=2),
    R(AB, "@VIOLENCE_N", weight=0.6, gap=1),
    R(AB, "@THREAT @KILL", gap=4),
    R(AB, "@KILL @ME если", gap=4),
    R(AB, "если уйти|пожаловаться|рассказать|развод @KILL|детей|дети", gap=6),
    R(AB, "мне не жить", gap=2),
    R(AB, "мне конец", weight=0.6, gap=1),
    R(
        AB,
        "синяк|синяки|побои|ссадина|след|следы|пятна|губа замазывать|прятать|скрывать|тональник|"
        "тональный|консилер|водолазка|очки",
        gap=5,
    ),
    R(AB, "@CONTROL мой|мои телефон|деньги|зарплата|паспорт|карта|переписка|зарядка", weight=0.6, gap=3),
    R(AB, "@CONTROL телефон|паспорт|зарплата|карта", weight=0.6, gap=2),
    R(AB, "не @HOLD @ME|из|никуда", weight=0.6, gap=3),
    R(AB, "@HOLD @ME в|на", weight=0.6, gap=3),
    R(AB, "ломиться|выламывать|выбивать|выбить|долбить|ломать дверь|калитку|ко", tier=IMM, gap=3),
    R(AB, "@HIDE в|у @SHELTER", tier=IMM, weight=0.6, gap=3),
    R(AB, "в|под @SHELTER @HIDE", tier=IMM, weight=0.6, gap=3),
    R(AB, "@WEAPON", tier=IMM, weight=0.3, gap=1),
    R(AB, "с @WEAPON", tier=IMM, weight=0.6, gap=2),
    R(AB, "сейчас|щас убить|прибить|убивать|избить @ME", tier=IMM, gap=2),
    R(AB, "@ME сейчас|щас убить|прибить|убивать|избить", tier=IMM, gap=2),
    R(AB, "@KILL @ME сейчас|сегодня|ночью", tier=IMM, gap=3),
    R(AB, "боюсь|бояться|страшно идти|возвращаться|вернуться|ехать домой|дом", weight=0.6, gap=4),
    R(AB, "стоять|ждать|караулить у подъезд|дом|работа|школа|двери", weight=0.6, gap=3),
    R(AB, "выложить|слить|разослать мои интимный|фотки|фото|видео", weight=0.6, gap=4),
    R(AB, "интимный фото|фотки|видео", weight=0.6, gap=2),
    R(AB, "сказать|врать|соврать что упасть|удариться|поскользнуться", weight=0.6, gap=4),
    # someone close hits, with no «меня» said; an instrument; a life like a prison; a beating promised
    R(AB, "@ABUSER @HIT", weight=0.6, gap=3),
    R(AB, "@HIT ремень|кулак|палка|шланг|провод|скакалка|пряжка", weight=0.6, gap=2),
    R(AB, "жить|живу как в тюрьма|клетка|концлагерь", weight=0.6, gap=3),
    R(AB, "подкараулить|поджидать|поймать|подловить @HIT|@KILL", weight=0.6, gap=4),
    # thrown at; a consent not given, told afterwards it was («сказал что я сама хотела»)
    R(AB, "кинуть|кидать|бросить|бросать|швырнуть в @ME", weight=0.6, gap=2),
    R(AB, "сказать|говорить что я сам|сама хотеть|напроситься", weight=0.6, gap=4),
    R(AB, "проснуться без джинсы|одежда|трусы|белье|штаны", weight=0.6, gap=3),
    # --- abuse, English ------------------------------------------------------------------------------
    R(AB, "@EN_HIT me", gap=3),
    R(AB, "rape|molest|touch me", weight=0.6, gap=2),
    R(AB, "rape|molest|assault|grope", weight=0.6, gap=1),
    R(AB, "threaten|threat|said|say kill|hurt|end me", gap=4),
    R(AB, "kill|hurt me if", gap=3),
    R(AB, "abus*", weight=0.6, gap=1),
    R(AB, "domest violenc", weight=0.6, gap=1),
    R(AB, "hide|hid|conceal bruis*|mark", gap=3),
    R(AB, "cover up bruis*|mark", gap=3),
    R(AB, "take|took|control|check my phone|money|passport|card", weight=0.3, gap=3),
    R(AB, "lock me in|out", weight=0.6, gap=2),
    R(AB, "he|she|they kept go|push|touch", weight=0.6, gap=2),
    R(AB, "jump me", weight=0.6, gap=1),
    R(AB, "drown|kill|hurt|poison my cat|dog|pet", weight=0.6, gap=2),
    R(AB, "bang|kick|break|pound door", tier=IMM, gap=3),
    R(AB, "hid|hide|lock myself bathroom|closet|room|car", tier=IMM, weight=0.6, gap=3),
    R(AB, "knife|gun", tier=IMM, weight=0.3, gap=2),
    R(AB, "scare|afraid|scar go|come home", weight=0.6, gap=4),
    R(AB, "nude|nudes|pics|photo leak|send|post|share", weight=0.6, gap=4),
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# What looks dangerous and is not: a rule hit whose words lie inside one of these does not count.
VETOES: tuple[str, ...] = (
    "@DIE со|от смех|смеха|скука|кринж|стыд|голод|жара|любопытство|усталость|зависть|нетерпение|"
    "холод|страх|умиление|восторг|смешно",
    "@DIE можно|мочь",
    "хоть вешаться|повеситься|стреляться|застрелиться|убиться|в",
    "убить|убивать время|вечер|выходные",
    "убить бы за",
    "убить|прибить|убивать|отдать за кофе|шоколадка|пицца|кусок|шаурма|сон|отпуск",
    "покончить|закончить с прокрастинация|долг|курение|отношение|привычка|ремонт|работа|учеба|диета|"
    "сериал|бардак|ипотека|сессия|алкоголь",
    "бить|ударить|бьет током|ток",
    # pushed towards a goal, not shoved: "it pushed me to start the business"
    "push me to|into start|tri|do|be|final|appli|take|get|keep|make|work|write|learn|chase|follow|"
    "pursu|open|launch|becom|chang|grow|improv|finish|quit|leav|move|join|sign|enrol|stud",
    "резаться|рубиться|играть|зарубиться в",
    "бить|ударить|попасть|пропустить мяч|мячом|шайба|шайбой|тренер|тренировка|спарринг|удар",
    "ударить|удариться|стукнуться об|о|головой|коленом|дверь|косяк|угол",
    "die laugh|of laughter|of embarrass|of boredom|of cring",
    "dy laugh|of embarrass",
    "kill for",
    "kill time",
    # a note with an everyday purpose is not a goodbye («write a birthday note for my cat's bowl»)
    "birthday|bday|thank*|love|sticki|cover|sick|permiss*|welcom*|congrat*|anniversari|christma*|"
    "valentin*|fridg*|groceri|shop* note|letter|messag|card|email",
    "hit me up",
    # a razor for shaving; done tonight *with* the packing
    "бритва|станок|лезвие побриться|бриться|брить|побрить|сбрить",
    "побриться|бриться|брить|побрить|сбрить бритва|станок|лезвие",
    "done @EN_WHEN with|for",
    "разбить|разбила сердце",
    "зуб|зубы|зубки|зубик резаться|прорезаться",
    "задушить|душить в объятие|объятиях",
    "убить|прибить готов|готова за",
    "this|deadlin|work|traffic|heat|exam|shoe kill me",
    "kill me lol|lmao|haha|now",
    "my phone|batteri|laptop die|dead",
    "dead tire|tired",
)

# A frame that makes the words about something else: a film, a book, coursework, the news.
FRAMES = _words(
    """фильм сериал книга роман песня трек игра аниме мультик реферат доклад курсовая курсовой курсач
    диплом статья эссе сочинение новость новости лекция исследование персонаж герой героиня сюжет
    серия семинар конспект документалка статистика презентация тренировка спарринг секция борьба
    бокс мма джиу-джитсу дзюдо самбо карате матч футбол хоккей скалодром кроссфит зал качалка
    босс уровень катка рейд игрок boss level raid player film
    movie book novel song game anim essay report paper thesi articl news lectur research charact
    episod season documentari present histori modul assign cours semin quiz bjj mma box train
    practic match footbal soccer gym sparring wrestl"""
)
# A pet just before the words makes them the pet's doing («кот меня расцарапал»); a pet elsewhere
# in the message frames nothing («отдала кота сестре, написала письма» is a farewell).
PETS = _words("""кот кошка собака пес гусь котенок щенок попугай хомяк cat dog puppi kitten parrot hamster""")

# Laughter marks a joke («хочу умереть 😂»): it halves a hit's weight, like a frame.
JOKE = _words("""лол хаха ахах ахаха хахах ржу кек lol lmao haha lmfao rofl ahaha jk""")
JOKE_EMOJI = frozenset("😂🤣😆😅😹🙃😜😝")
# The past, over and done («в юности резался, 8 лет ничего»): halves a hit's weight.
RESOLVED = _words(
    """отпустить прошлое юность молодость пережить позади детство подростковый proud free clean
    recov recovered ago overcam childhood"""
)
# «давно» says it is over only beside «было», «прошло», «позади»…: «давно не писала» opens many
# a message, and «давно хочу умереть» says the wish is old, not gone
_LONG_AGO = frozenset({"давно", "давным-давно"})
_OVER = _words("""быть прошлый прошлое пройти позади закончиться кончиться отпустить""")

# Someone else as the subject: «у подруги муж…», «мой друг говорит, что устал жить».
_OTHERS = _words(
    """друг подруга знакомый знакомая приятель приятельница коллега сосед соседка сын дочь дочка сестра
    брат племянник племянница внук внучка дедушка бабушка дед отец папа мама мать муж жена парень
    девушка одноклассник одноклассница студент студентка ученик ученица клиент пациент тетя дядя
    friend buddi colleagu neighbour neighbor son daughter sister brother cousin grandpa grandma dad
    mom mum husband wife boyfriend girlfriend student client patient он она они кто человек люди
    теща свекровь свекор тесть подписчик подписчица собеседник собеседница пользователь читатель
    читательница соседский клиентка пациентка guy mate roommat someon he she they peopl person man
    woman kid"""
)
_FIRST = frozenset({"я", "меня", "мне", "мной", "i", "me", "im", "i'm"})


@dataclass(frozen=True)
class _Slot:
    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def matches(self, word: Word) -> bool:
        lemmas = word.lemmas or frozenset((word.lemma,))
        if word.form in self.exact or not self.exact.isdisjoint(lemmas):
            return True
        if "я" in self.exact and (word.lemma in _SELF or word.form in _SELF):
            return True
        return any(word.form.startswith(p) or any(lm.startswith(p) for lm in lemmas) for p in self.prefixes)


def _expand(element: str) -> list[str]:
    out: list[str] = []
    for alt in element.split("|"):
        out.extend(CONCEPTS[alt[1:]].split("|") if alt.startswith("@") else [alt])
    return out


@cache
def _slots(pattern: str) -> tuple[_Slot, ...]:
    slots = []
    for element in pattern.split():
        alts = _expand(element)
        slots.append(
            _Slot(
                frozenset(a for a in alts if not a.endswith("*")),
                tuple(a[:-1] for a in alts if a.endswith("*")),
            )
        )
    return tuple(slots)


def _index(ws: list[Word]) -> dict[str, list[int]]:
    """Positions of each form and plausible lemma: a rule whose first slot names none of them is
    skipped without looking at the words (most rules, for most messages)."""
    index: dict[str, list[int]] = {}
    for i, w in enumerate(ws):
        for key in {w.form, w.lemma, *w.lemmas}:
            index.setdefault(key, []).append(i)
    return index


def _starts(slot: _Slot, ws: list[Word], index: dict[str, list[int]] | None) -> list[int]:
    if index is None:
        return [i for i, w in enumerate(ws) if slot.matches(w)]
    found: set[int] = set()
    for key in slot.exact & index.keys() if len(slot.exact) < len(index) else index.keys() & slot.exact:
        found.update(index[key])
    if "я" in slot.exact:
        for key in _SELF & index.keys():
            found.update(index[key])
    if slot.prefixes:
        for key, positions in index.items():
            if key.startswith(slot.prefixes):
                found.update(positions)
    return sorted(found)


@cache
def _first_slot_index(patterns: tuple[str, ...]) -> tuple[dict[str, list[int]], list[int]]:
    """Which patterns can start at a word with a given form or lemma; and the patterns that must
    always be tried (a prefix or the ``я`` slot first)."""
    by_key: dict[str, list[int]] = {}
    always = []
    for n, pattern in enumerate(patterns):
        first = _slots(pattern)[0]
        if first.prefixes or "я" in first.exact:
            always.append(n)
            continue
        for alt in first.exact:
            by_key.setdefault(alt, []).append(n)
    return by_key, always


def _candidates(patterns: tuple[str, ...], index: dict[str, list[int]]) -> list[int]:
    by_key, always = _first_slot_index(patterns)
    found = set(always)
    for key in index:
        found.update(by_key.get(key, ()))
    return sorted(found)


def _match(
    slots: tuple[_Slot, ...], ws: list[Word], gap: int, index: dict[str, list[int]] | None = None
) -> list[tuple[int, int]]:
    """Every (first, last) word index where the slots match in order with at most ``gap`` words
    between neighbours."""
    spans = []
    for i in _starts(slots[0], ws, index):
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


@cache
def _speaks_negation(pattern: str) -> bool:
    """The rule itself is about a «не» («не хочу жить», «не выпускает из дома»)."""
    return any(alt in _NEGATORS for slot in pattern.split() for alt in _expand(slot))


_SENTENCE_END = ".!?;…\n"
_CLAUSE_END = frozenset(_SENTENCE_END + ",")


def _negated(ws: list[Word], start: int, end: int, pattern: str, text: str = "") -> bool:
    """A «не» just before the hit in its clause, or between its words («родители никогда не били»),
    unless the rule is about a negation itself. A «не» behind a comma or a full stop belongs to
    another clause: «я не могу больше, хочу умереть» is not negated."""
    if _speaks_negation(pattern):
        return False
    first = ws[start].start
    for w in ws[max(0, start - 3) : end]:
        if not (w.lemma in _NEGATORS or w.form in _NEGATORS):
            continue
        if text and w.start < first and any(ch in _CLAUSE_END for ch in text[w.start : first]):
            continue
        return True
    return False


_RULE_PATTERNS = tuple(rule.pattern for rule in RULES)


def vetoed_spans(ws: list[Word], index: dict[str, list[int]] | None = None) -> list[tuple[int, int]]:
    index = index if index is not None else _index(ws)
    return [span for n in _candidates(VETOES, index) for span in _match(_slots(VETOES[n]), ws, 2, index)]


def _crosses(text: str, ws: list[Word], start: int, end: int, commas: bool) -> bool:
    """A hit may not run across a sentence («…бьёт ремнём. как мне…»); for abuse, not across a comma."""
    between = text[ws[start].start : ws[end].start]
    return any(ch in between for ch in (_SENTENCE_END + ("," if commas else "")))


def lexicon_hits(ws: list[Word], text: str = "") -> list[Hit]:
    """Every rule that fires in the message (its first place), vetoes and negation applied."""
    index = _index(ws)
    vetoes = vetoed_spans(ws, index)
    hits = []
    for n in _candidates(_RULE_PATTERNS, index):
        rule = RULES[n]
        for start, end in _match(_slots(rule.pattern), ws, rule.gap, index):
            if _negated(ws, start, end, rule.pattern, text):
                continue
            if text and _crosses(text, ws, start, end, commas=rule.label == ABUSE):
                continue
            if any(not (end < vs or start > ve) for vs, ve in vetoes):
                continue
            hits.append(Hit(rule, start, end))
            break
    return hits


def framed(ws: list[Word]) -> bool:
    """The message is about a film, a book, coursework or the news."""
    return any(w.lemma in FRAMES or w.form in FRAMES for w in ws)


def pet_did_it(ws: list[Word], hit: Hit) -> bool:
    """A pet is named in the few words before the hit: the scratch or the bite is the pet's."""
    return any(w.lemma in PETS or w.form in PETS for w in ws[max(0, hit.start - 4) : hit.start])


def about_someone_else(ws: list[Word], hit: Hit) -> bool:
    """Someone else is named before the hit, and the user does not speak of themselves near it."""
    before = ws[max(0, hit.start - 8) : hit.start]
    if not any(w.lemma in _OTHERS for w in before):
        return False
    near = ws[max(0, hit.start - 2) : hit.end + 1]
    return not any(w.form in _FIRST for w in near)


_OBJECT_OTHER = frozenset({"его", "ее", "её", "их", "him", "her", "them"})


def abuse_of_someone_else(ws: list[Word], hit: Hit) -> bool:
    """«его друга отец бьёт», «my roommate's dad hits her»: someone else is the one hurt."""
    if not any(w.lemma in _OTHERS for w in ws[max(0, hit.start - 8) : hit.start + 1]):
        return False
    span = ws[max(0, hit.start - 3) : hit.end + 2]
    return any(w.form in _OBJECT_OTHER for w in span) and not any(
        w.form in {"меня", "мне", "me"} for w in ws[hit.start : hit.end + 1]
    )


def joking(text: str, ws: list[Word]) -> bool:
    """Laughter in the message: «хочу умереть 😂», «kill me lol»."""
    return any(w.form in JOKE for w in ws) or any(ch in JOKE_EMOJI for ch in text)


def resolved_past(ws: list[Word]) -> bool:
    """The message speaks of something long over («давно», «в юности», «потом отпустило»)."""
    if any(w.lemma in RESOLVED or w.form in RESOLVED for w in ws):
        return True
    return any(
        w.form in _LONG_AGO and any(v.lemma in _OVER or v.form in _OVER for v in ws[max(0, i - 2) : i + 3])
        for i, w in enumerate(ws)
    )


def quoted(text: str, ws: list[Word], hit: Hit) -> bool:
    """The hit is inside «quotes» or "quotes": a title, a name, someone else's words."""
    start = ws[hit.start].start
    for opening, closing in (("«", "»"), ('"', '"'), ("“", "”")):
        left = text.rfind(opening, 0, start)
        if left != -1 and text.find(closing, left + 1) >= start:
            return True
    return False
