"""Photos in dialogue: when the persona sends one, and which.

Two ways in. A keyword pre-filter (no LLM) catches direct requests ("пришли фото с пляжа", "как ты
выглядишь?") on every backend, so photos happen on the embedded 1.5B model too; and now and then a
photo that fits the moment is attached unasked, when the selector is confident. Models that call
tools also get ``send_photo`` (and ``generate_image`` when a generator is configured). Requests
that :mod:`tools.image_policy` refuses (explicit, a real person, a minor) are declined in
character; every photo sent is recorded in the thread, so it is not repeated soon and the persona
can refer to it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.language import Language
from personas.card import PersonaCard

log = logging.getLogger(__name__)

RECENT_PHOTOS = 8  # a photo among the last N sent is not sent again
UNASKED_EVERY = 6  # an unasked photo at most once per N user messages

DECLINE: dict[str, dict[Language, str]] = {
    "explicit": {
        "ru": "Такие фото я не отправляю 🙂 Могу прислать что-нибудь милое — хочешь?",
        "en": "I don't send photos like that 🙂 I can send something sweet instead, want one?",
    },
    "real_person": {
        "ru": "Фото реальных людей я не присылаю — только свои 🙂",
        "en": "I don't send pictures of real people, only my own 🙂",
    },
    "minor": {
        "ru": "Такое я не рисую и не присылаю. Давай я лучше пришлю что-нибудь про сегодняшний день?",
        "en": "I don't make or send pictures like that. Want a photo of my day instead?",
    },
    "failed": {
        "ru": "Хотела прислать фото, но оно не получилось — в другой раз обязательно!",
        "en": "I wanted to send you a photo, but it didn't come out. Next time, promise!",
    },
}


@dataclass
class PhotoOut:
    """A photo to send with the reply: a file from the persona's library, or generated PNG bytes."""

    caption: str
    path: str | None = None
    png: bytes | None = None
    file: str = ""  # the library entry's file (for "recently sent"), "generated" otherwise


@dataclass
class PhotoTools:
    """What this deployment can do: the selector always, the generator only when configured."""

    selector: Any  # tools.photos.PhotoSelector
    generator: Any = None  # tools.imagegen.ImageGenerator | None


def recent_files(sent: list[dict[str, Any]]) -> list[str]:
    return [s["file"] for s in sent[-RECENT_PHOTOS:] if s.get("file")]


def record(sent: list[dict[str, Any]], photo: PhotoOut, user_turn: int) -> list[dict[str, Any]]:
    """The thread's photo log with ``photo`` appended (kept short); ``user_turn`` counts the user's
    messages so far, to space unasked photos out."""
    entry = {
        "file": photo.file,
        "caption": photo.caption,
        "at": datetime.now(UTC).isoformat(),
        "turn": user_turn,
    }
    return [*sent, entry][-50:]


async def choose_photo(
    tools: PhotoTools,
    card: PersonaCard,
    text: str,
    lang: Language,
    *,
    pro: bool,
    sent: list[dict[str, Any]],
    user_turns_since_photo: int,
) -> tuple[PhotoOut | None, str | None]:
    """(the photo to attach, or None; a reply to give instead of the model's, or None)."""
    from tools.image_policy import check_image_request
    from tools.photos import wants_photo

    request = wants_photo(text, lang)
    if request is not None and (refusal := check_image_request(text, allowed_names=(card.name,))):
        return None, DECLINE[refusal.reason][lang]
    if request is None and user_turns_since_photo < UNASKED_EVERY:
        return None, None
    moment = (getattr(request, "subject", None) or text) if request is not None else text
    choice = await asyncio.to_thread(
        tools.selector.select,
        card,
        moment,
        lang=lang,
        include_pro=pro,
        exclude=recent_files(sent),
        direct_request=request is not None,
    )
    if choice is not None:
        return PhotoOut(caption=choice.caption, path=str(choice.path), file=choice.photo.file), None
    if request is not None and tools.generator is not None:
        return await generate(tools, card, moment, lang)
    return None, None


async def generate(
    tools: PhotoTools, card: PersonaCard, moment: str, lang: Language
) -> tuple[PhotoOut | None, str | None]:
    """A generated image of the persona in ``moment``; on refusal or failure, a line in character."""
    from tools.imagegen import ImageRejectedError

    generator = tools.generator
    try:
        prompt, negative = generator.build_prompt(card, moment, lang)
        image = await generator.generate_async(prompt, negative_prompt=negative)
    except ImageRejectedError as exc:
        reason = getattr(exc, "reason", "explicit")
        return None, DECLINE.get(reason, DECLINE["explicit"])[lang]
    except Exception as exc:  # timeout, a broken pipeline: no image, a line in character instead
        log.warning("photos: generation failed (%s)", type(exc).__name__)
        return None, DECLINE["failed"][lang]
    return PhotoOut(caption=moment, png=image.png_bytes, file="generated"), None


PHOTO_NOTE: dict[Language, str] = {
    "ru": "К этому ответу ты прикладываешь своё фото: «{caption}». Упомяни его коротко и естественно.",
    "en": 'You are attaching your photo to this reply: "{caption}". Mention it briefly and naturally.',
}
