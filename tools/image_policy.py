"""Which image requests DORA declines, and why: one policy for the persona's own photos and for
generated pictures.

:func:`check_image_request` answers ``None`` (the request may be served) or a :class:`Refusal` whose
reason is ``"minor"``, ``"explicit"`` or ``"real_person"``, in that order of precedence. Both ways a
picture can reach the user ask it: the photo step (``agent.photo_choice``) before choosing from
the persona's library, and the generator (``tools.imagegen``) before and after writing its prompt,
so a request one of them declines the other cannot serve.

Pure and cheap (regular expressions, microseconds), Russian and English. A heuristic by design:
it errs towards refusing (a false refusal costs one polite line in character), and for generated
images the negative prompt and the pipeline's safety checker stand behind it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "INVISIBLE",
    "PHOTO_NOUN",
    "Refusal",
    "RefusalReason",
    "check_image_request",
    "is_explicit",
    "normalize",
]

RefusalReason = Literal["explicit", "real_person", "minor"]

# Words for a photo, in the forms a request uses (shared with the photo-request parser).
PHOTO_NOUN: Final = (
    r"(?:фото|фотк[аиуеой]|фоток|фотками|фоточк[а-я]*|фотографи(?:я|ю|и|ей|ям|ями|ях)|фотокарточк[а-я]*"
    r"|селфи|сним(?:ок|ка|ки|ку|ком|ков|кам|ками|ках|ке)|нюдс[а-я]*|фотосесси[а-я]*"
    r"|photos?|pics?|pix|pictures?|selfies?|snaps?|snapshots?|nudes|photographs?)"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an image request is declined: the reason code and the words that triggered it (for logs)."""

    reason: RefusalReason
    match: str


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts))


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Matched against the normalized text: lower case, ё→е, look-alike letters unified (see normalize).
# Russian is matched by stems with explicit endings where a bare stem would catch innocent words
# (гол- is also голова/голос/голубой; трус is also "coward").
_EXPLICIT = _rx(
    # English
    r"\bnude?s?\b",
    r"\bnudity\b",
    r"\bnaked\b",
    r"\bnsfw\b",
    r"\bporn\w*",
    r"\bsex\w*",
    r"\berotic\w*",
    r"\bexplicit\b",
    r"\bxxx\b",
    r"\bhentai\b",
    r"\blewd\w*",
    r"\btop-?less\b",
    r"\bbottomless\b",
    r"\bundress\w*",
    r"\bunclothed\b",
    r"\b(?:without|no) (?:any )?cloth\w*",
    r"\bin the nude\b",
    r"\bstrip(?:tease|per|pers|ping)\b",
    r"\bboobs?\b",
    r"\btits\b",
    r"\bnipples?\b",
    r"\bgenital\w*",
    r"\blingerie\b",
    r"\bunderwear\b",
    r"\bpanties\b",
    r"\bfetish\w*",
    r"\bbdsm\b",
    r"\bonlyfans\b",
    r"\bx-rated\b",
    r"\brule ?34\b",
    r"\badults? only\b",
    r"(?<!\d)18 ?\+",
    # Russian
    r"\bгол(?:ая|ой|ую|ые|ых|ым|ыми|ый|ого|ом|еньк\w*|ышом|ышка)\b",
    r"\bнаг(?:ая|ой|ую|ие|их|ишом|ота|оту|оты)\b",
    r"\bобнаж\w*",
    r"\bразде(?:т|в|н)\w*",
    r"\bбез (?:одежды|белья|трусов|трусиков|лифчика|купальника)\b",
    r"\bв чем мать родила\b",
    r"\bэроти\w*",
    r"\bпорн\w*",
    r"\bсекс\w*",
    r"\bинтим\w*",
    r"\bню\b",
    r"\bхентай\w*",
    r"\bстриптиз\w*",
    r"\bнижн\w* бель\w*",
    r"\bв (?:нижнем )?бель[еи]\b",
    r"\bлифчик\w*",
    r"\bтрусик\w*",
    r"\bв трусах\b",
    r"\bсиськ\w*",
    r"\bпошл(?:ое|ая|ый|ые|ую|ой|ых|ого|ым|еньк\w*|ост\w*)\b",  # not "пошли" (send; let's go)
    r"\bразвратн\w*",
    r"\bфетиш\w*",
    r"\bбдсм\b",
    r"\bонлифанс\w*",
    r"\bдля взрослых\b",
    r"\bоткровенн\w* (?:фот|снимк|снимок|селфи|кадр|наряд|поз|видео|картин)\w*",
    r"\bпостельн\w* сцен\w*",
)

_MINOR = _rx(
    # English ("baby" is left out: it is what partners call each other)
    r"\bchild(?:ren)?\b",
    r"\bkids?\b",
    r"\bkiddos?\b",
    r"\btoddlers?\b",
    r"\binfants?\b",
    r"\bteen(?:s|ager|agers|age)?\b",
    r"\bunder-?age\b",
    r"\bminors?\b",
    r"\bschool ?(?:girl|boy)s?\b",
    r"\bschool uniform\b",
    r"\b(?:high|middle) school\w*",
    r"\blittle (?:girl|boy)s?\b",
    r"\byoung (?:girl|boy)s?\b",
    r"\bpre-?teens?\b",
    r"\btweens?\b",
    r"\bloli\w*",
    r"\bshota\w*",
    r"\bjailbait\b",
    r"\bunder (?:1[0-8]|eighteen)\b",
    r"\b(?:[1-9]|1[0-7]) ?-?(?:years?|yrs?) ?-?old\b",
    r"\b(?:[1-9]|1[0-7]) ?y\.?o\b",
    r"\baged? (?:[1-9]|1[0-7])\b",
    r"\b(?:was|were) (?:[1-9]|1[0-7])\b",
    # Russian ("малыш" is left out for the same reason as "baby")
    r"\bребен(?:ок|ка|ку|ком|ке)\b",
    r"\bдет(?:и|ей|ям|ьми|ях|ка|ки|ский|ская|ское|ские|ского|ской|ском|ским|ства|стве|ство|ству)\b",
    r"\bдевочк\w*",
    r"\bмальчик\w*",
    r"\bмалолет\w*",
    r"\bнесовершеннолет\w*",
    r"\bподрост\w*",
    r"\bшкольниц\w*",
    r"\bшкольник\w*",
    r"\bшкольн\w* форм\w*",
    r"\bлоли\w*",
    r"\b(?:[1-9]|1[0-7]) ?-?(?:лет|года?|годик\w*|летн\w*)\b(?! назад)",
    r"\bбыло (?:[1-9]|1[0-7])\b",
)

# A picture of the persona as a child: childhood photos, always; a minor word next to "you"/"себя".
_CHILDHOOD = _rx(r"\bchildhood\b", r"\bдетств\w*")
_SELF = _rx(
    r"\b(?:you|yourself|your|yours)\b",
    r"\b(?:ты|тебя|тебе|тобой|себя|себе|собой|твой|твоя|твое|твои|твоих|твоем|твоей|твою|твоим)\b",
)
_SELF_WINDOW = 4  # words between "you" and a minor word for the two to count as one phrase

_SUGGESTIVE = _rx(
    r"\bsexy\b",
    r"\bseduct\w*",
    r"\bseductive\w*",
    r"\bsensual\w*",
    r"\bflirt\w*",
    r"\bbikini\w*",
    r"\bswim(?:suit|suits|wear)\b",
    r"\bin bed\b",
    r"\bbedroom\b",
    r"\bkiss\w*",
    r"\bcuddl\w*",
    r"\bdate\b",
    r"\bromantic\w*",
    r"\bshower\w*",
    r"\bbath(?:ing|tub)?\b",
    r"\bpos(?:e|es|ing)\b",
    r"\bprovocative\w*",
    r"\brevealing\b",
    r"\bskimpy\b",
    r"\bmini-?skirt\w*",
    r"\bshort skirt\w*",
    r"\btight\w*",
    r"\bкупальник\w*",
    r"\bбикини\b",
    r"\bв постели\b",
    r"\bв кровати\b",
    r"\bспальн\w*",
    r"\bпоцел\w*",
    r"\bцелу\w*",
    r"\bобним\w*",
    r"\bобнима\w*",
    r"\bсвидани\w*",
    r"\bромантич\w*",
    r"\bсоблазн\w*",
    r"\bчувствен\w*",
    r"\bфлирт\w*",
    r"\bв душе\b",
    r"\bв ванн(?:е|ой)\b",
    r"\bпровокац\w*",
    r"\bоткровенн\w*",
    r"\bмини-?юбк\w*",
    r"\bкоротк\w* юбк\w*",
    r"\bпозир\w*",
    r"\bобтягива\w*",
)

_REAL_PERSON_WORDS = _rx(
    r"\breal (?:person|people|human|man|woman|girl|guy)s?\b",
    r"\bcelebrit\w*",
    r"\bfamous (?:person|people|actor|actress|singer|athlete|politician|model|blogger|youtuber)s?\b",
    r"\bmovie stars?\b",
    r"\bhollywood stars?\b",
    r"\bdeep ?fakes?\b",
    r"\blook-?alikes?\b",
    r"\bpresident\b",
    r"\bprime minister\b",
    r"\bреальн\w* (?:человек\w*|люд\w*|лиц\w*|девушк\w*|парн\w*|женщин\w*|мужчин\w*)",
    r"\bживо\w* человек\w*",
    r"\bзнаменитост\w*",
    r"\bселебрит\w*",
    r"\bизвестн\w* (?:человек\w*|люд\w*|актер\w*|актрис\w*|певиц\w*|певц\w*|певец|спортсмен\w*|"
    r"политик\w*|блогер\w*|модел\w*|личност\w*)",
    r"\bзвезд\w* (?:кино|эстрады|голливуда|шоу-?бизнеса)\b",
    r"\bдипфейк\w*",
    r"\bпрезидент\w*",
    r"\bпремьер-министр\w*",
)

# A name: a capitalized word with a lower-case letter in it (so "NSFW" is no name); "DiCaprio",
# "O'Neil", "Жан-Поль" pass.
_NAME: Final = r"[A-ZА-ЯЁ][A-Za-zА-Яа-яЁё'’-]*[a-zа-яё]"
# Words that introduce who is in the picture. After a "strong" one a single name is enough
# ("looks like Madonna"); after a weak one (as, of, with, фото, как, с ...) it takes two
# ("as Taylor Swift"), because "with Anna" or "как Москва" are ordinary.
_STRONG_CUE = (
    r"(?:\blooks? like|\blooking like|\bresembl\w*|\b(?:dressed|disguised|cosplay\w*) as|\bpretend\w* to be|"
    r"\bimpersonat\w*|\bпохож\w* на|\bв образе|\bпереоде\w* в|\bкосплей\w*|\bзагрими\w* под)"
)
_WEAK_CUE = (
    r"(?:\b(?:as|like|of|with|and|featuring|starring|meet\w*|photo|picture|selfie|portrait)|"
    r"\b(?:как|фото|фотк\w*|фотографи\w*|снимо?к\w*|селфи|картинк\w*|портрет\w*|изображени\w*|"
    r"с|со|и|вместе с|рядом с|встреч\w*))"
)
# Cue words in any case ("As", "Фото" at the start of a sentence); the names themselves capitalized.
_STRONG_NAME = re.compile(rf"(?i:{_STRONG_CUE}\s+(?:a |an |the )?)({_NAME}(?:\s+{_NAME}){{0,2}})")
_WEAK_NAME = re.compile(rf"(?i:{_WEAK_CUE})\s+({_NAME}\s+{_NAME}(?:\s+{_NAME})?)")
# "in the style of Van Gogh", "в стиле Ван Гога": a painter's manner, not a picture of the painter.
_STYLE_OF = re.compile(r"(?i:\b(?:style|manner|стиле|манере)\W*(?:of\W*)?)$")
# Capitalized pairs that are places, days and things, not people ("New York", "Central Park").
_NOT_FIRST_NAMES: Final = _word_set(
    "new los las san santa saint st sankt rio buenos hong costa puerto mount lake cape north south east "
    "west central red times eiffel big golden empire statue happy merry christmas good "
    "нью лос лас сан санта санкт рио буэнос коста пуэрто красная красной северный южный новый новая "
    "новом нижний верхний великий великого старый старого"
)
_NOT_LAST_NAMES: Final = _word_set(
    "street avenue road square park tower bridge city beach lake river mountains mountain island islands "
    "bay sea ocean valley garden gardens palace museum cathedral church station airport hotel cafe café "
    "restaurant bar mall center centre day eve year time morning night coast hills falls "
    "сити парк площадь площади улица улице проспект проспекте набережная набережной"
)

# The photo requests' own word list: wider on slang and body words ("сиськи", "бельё", "sexy").
_EXPLICIT_WORDS = re.compile(
    r"\b(?:гол(?:ая|ое|ой|ую|ые|ых|ого|ый|еньк[а-я]*|ышом)\b|обнаж[а-я]*|раздет[а-я]*|раздень[а-я]*"
    r"|раздева[а-я]*|нюдс[а-я]*|нюдес[а-я]*|эротик[а-я]*|эротич[а-я]*|порн[а-я]*|интимн[а-я]*"
    r"|пошл(?:ое|ую|ые|ых|енькое|енькую)|сись[а-я]*|сиськ[а-я]*|грудь|грудью|попк[а-я]*|жоп[а-я]*"
    r"|трус(?:ах|иках|ики|ы)\b|нижнем\s+бель[её]|бель[её]\b|сексуальн[а-я]*|секс[а-я]*|откровенн[а-я]*)"
    r"|без\s+(?:одежды|белья|трусов|трусиков|лифчика|всего|купальника)"
    r"|\b(?:nude[sd]?|naked|nsfw|topless|bottomless|porn[a-z]*|explicit|xxx|lewd|boobs?|tits?|nipples?"
    r"|lingerie|undress[a-z]*|stripping|sexy|sex|underwear|panties|bra)\b"
    r"|no\s+clothes|without\s+(?:clothes|anything\s+on)|18\s*\+|\b21\s*\+",
    re.IGNORECASE,
)


# Shapes of a request for a real person's picture, from the photo requests' side ("фото моей
# бывшей", "как выглядит Илон Маск", "a photo of my boss"). A capitalised word (Cyrillic or Latin,
# "Жан-Поль" too): case matters, so the patterns are case-sensitive and switch it off (?i:...) only
# around their keywords.
_PLAIN_NAME = r"[A-ZА-ЯЁ][a-zа-яё]+(?:-[A-ZА-ЯЁ][a-zа-яё]+)?"
_NOUN_I = rf"(?i:{PHOTO_NOUN})"
_CLOSE_RU = (
    r"(?:девушк|жен[аыуой]|бывш|парн|муж|подруг|друг|сестр|брат|мам|пап|начальник|коллег|сосед|одноклассни)"
)
_PUBLIC_RU = (
    r"(?:знаменитост|актрис|актер|актёр|певиц|певц|президент|блогер|политик|футболист|звезд[ыу]\s+кино)"
)
_REAL_PERSON_SHAPES = [
    # "фото Тейлор Свифт", "photo of Taylor Swift", "фото настоящей Анджелины Джоли"
    re.compile(
        rf"\b{_NOUN_I}\s+(?i:(?:с|со|of|with|настоящ[а-я]*|реальн[а-я]*|real|actual)\s+)*"
        rf"(?P<name>{_PLAIN_NAME}\s+{_PLAIN_NAME})"
    ),
    # "как выглядит Тейлор Свифт", "what does Taylor Swift look like", "в образе Имя Фамилия"
    re.compile(
        rf"(?i:как\s+выгляд[а-я]+|what\s+does|what\s+do|похож[а-я]*\s+на|в\s+образе|dressed\s+as|pretend\s+to\s+be)"
        rf"\s+(?P<name>{_PLAIN_NAME}\s+{_PLAIN_NAME})"
    ),
    re.compile(
        rf"\b(?:настоящ[а-я]*|реальн[а-я]*)\s+(?:{PHOTO_NOUN}|человек[а-я]*|люд[а-я]*)"
        rf"|{PHOTO_NOUN}\s+(?:настоящ[а-я]*|реальн[а-я]*|живого|живых)\s+(?:человек|люд|девушк|парн|знаменит)"
        rf"|{PHOTO_NOUN}\s+(?:мо(?:ей|его|их|ю|й)|нашей|нашего)\s+{_CLOSE_RU}"
        rf"|{PHOTO_NOUN}\s+(?:как[а-я]*-нибудь\s+|известн[а-я]*\s+)?{_PUBLIC_RU}"
        r"|\b(?:real|actual|genuine)\s+(?:photos?|pics?|pictures?|images?)\s+of\b"
        r"|\b(?:photos?|pics?|pictures?|images?)\s+of\s+(?:a\s+)?(?:real|actual)\s+(?:person|people|human|woman|man|girl)"
        r"|\b(?:photos?|pics?|pictures?|images?)\s+of\s+(?:my|a|some)\s+(?:girlfriend|wife|ex|boyfriend|husband"
        r"|friend|sister|brother|mom|mum|dad|boss|coworker|colleague|neighbou?r|celebrity|actress|actor|singer"
        r"|president|politician|influencer)"
        r"|\bcelebrit(?:y|ies)\b|\bfamous\s+(?:person|people|actress|actor|singer)",
        re.IGNORECASE,
    ),
]


# Latin letters that look like Cyrillic ones and back: "гoлая" with a Latin o is still голая.
_TO_CYRILLIC = str.maketrans("aceopxykmthb", "асеорхукмтнв")
_TO_LATIN = str.maketrans("асеорхукмтнв", "aceopxykmthb")
_CYR = re.compile(r"[а-яё]")
_LAT = re.compile(r"[a-z]")
INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")


def normalize(text: str) -> str:
    """Lower case, ё→е, NFKC (full-width letters), no invisible characters, one script per word."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower().replace("ё", "е")

    def unify(m: re.Match[str]) -> str:
        word = m.group(0)
        cyr, lat = len(_CYR.findall(word)), len(_LAT.findall(word))
        if cyr and lat:
            return word.translate(_TO_CYRILLIC if cyr >= lat else _TO_LATIN)
        return word

    text = re.sub(r"\w+", unify, text)
    return re.sub(r"\s+", " ", text).strip()


def _words_between(text: str, a: re.Match[str], b: re.Match[str]) -> int:
    lo, hi = sorted((a, b), key=lambda m: m.start())
    return len(re.findall(r"\w+", text[lo.end() : hi.start()]))


def _minor(text: str) -> str | None:
    """The words that make this a picture of a minor in a context we refuse, or None."""
    if m := _CHILDHOOD.search(text):
        return m.group(0)
    minors = list(_MINOR.finditer(text))
    if not minors:
        return None
    if (context := _SUGGESTIVE.search(text)) or (context := _EXPLICIT.search(text)):
        return f"{minors[0].group(0)} … {context.group(0)}"
    for minor in minors:
        for self_ref in _SELF.finditer(text):
            if _words_between(text, minor, self_ref) <= _SELF_WINDOW:
                return f"{self_ref.group(0)} … {minor.group(0)}"
    return None


def _is_allowed_name(name: str, allowed: list[str]) -> bool:
    """``name`` is the persona's own (normalized), in any case ending: every word starts with the
    stem of one of an allowed name's words ("лины веги" for "лина вега")."""
    for full in allowed:
        stems = [w[: max(3, len(w) - 1)] for w in full.split()]
        if stems and all(any(word.startswith(stem) for stem in stems) for word in name.split()):
            return True
    return False


def _is_place(words: list[str]) -> bool:
    return words[0] in _NOT_FIRST_NAMES or words[-1] in _NOT_LAST_NAMES


def _named_person(text: str, allowed_names: list[str]) -> str | None:
    """A real person's name after a cue word (see :func:`check_image_request`), or None."""
    for m in _STRONG_NAME.finditer(text):
        name = normalize(m.group(1))
        if not _is_allowed_name(name, allowed_names):
            return m.group(0)
    for m in _WEAK_NAME.finditer(text):
        words = normalize(m.group(1)).split()
        if _is_place(words) or _STYLE_OF.search(text[: m.start(1)]):
            continue
        if _is_allowed_name(" ".join(words), allowed_names):
            continue
        return m.group(0)
    for pattern in _REAL_PERSON_SHAPES:
        for m in pattern.finditer(text):
            name = m.groupdict().get("name")
            if name is None:
                return m.group(0)
            words = normalize(name).split()
            if not _is_place(words) and not _is_allowed_name(" ".join(words), allowed_names):
                return m.group(0)
    return None


def check_image_request(text: str, *, allowed_names: tuple[str, ...] | list[str] = ()) -> Refusal | None:
    """Whether an image request must be declined, and why; ``None`` when it may be drawn.

    Pure and cheap (regular expressions, microseconds), Russian and English. A heuristic by
    design: it errs towards refusing, and the negative prompt and the pipeline's safety checker
    stand behind it. In order of precedence:

    - ``"minor"``: a word for a child or teenager (ребёнок, школьница, подросток, "15 лет", teen,
      kid, "12 years old", ...) together with anything suggestive or explicit (swimsuit, bed,
      kiss, купальник, в душе, ...); or the persona itself pictured young: a minor word within
      four words of "you"/"тебя"/"себя" ("you as a kid", "тебя в 15 лет") or any childhood photo
      ("фото из детства"). A child mentioned in an ordinary scene ("a kid flying a kite") passes.
      "baby" and "малыш" do not count: partners call each other that.
    - ``"explicit"``: nudity and sexual content, always, whatever the persona or the user's
      settings (nude, naked, porn, sex*, lingerie, 18+, голая, обнажённая, без одежды, эротика,
      нижнее бельё, ...). Text and images differ here: DORA never generates explicit images.
    - ``"real_person"``: a request about real people in general ("real person", "celebrity",
      "реального человека", "знаменитость", "deepfake", "президент"), or a name after a word that
      introduces who is pictured. One capitalized name is enough after "looks like", "dressed as",
      "похожа на", "в образе"; after ordinary words (as, like, of, with, photo, selfie, как, фото,
      с, и) it takes a first name and a surname ("as Taylor Swift", "фото Илона Маска"), minus
      capitalized pairs that are places or days ("New York", "Central Park", "Нью Йорк").
      ``allowed_names`` (the persona's own name) never count. Names in lower case or all capitals, or with
      no cue word before them, are not caught; the negative prompt covers that.

    The text is normalized first (case, ё, full-width and look-alike Latin/Cyrillic letters, invisible
    characters), so "гoлая" with a Latin o is caught.
    """
    norm = normalize(text)
    if found := _minor(norm):
        return Refusal("minor", found)
    if m := _EXPLICIT.search(norm) or _EXPLICIT_WORDS.search(norm):
        return Refusal("explicit", m.group(0))
    if m := _REAL_PERSON_WORDS.search(norm):
        return Refusal("real_person", m.group(0))
    allowed = [normalize(n) for n in allowed_names if n.strip()]
    original = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    if found := _named_person(original, allowed):
        return Refusal("real_person", found)
    return None


def is_explicit(text: str) -> bool:
    """Does ``text`` name sexual or nude imagery? Words, not intent: the photo-request parser uses it
    to treat "покажи сиськи" as a request (with no word for a photo in it), which is then declined."""
    norm = normalize(text)
    return bool(norm) and (_EXPLICIT.search(norm) is not None or _EXPLICIT_WORDS.search(norm) is not None)
