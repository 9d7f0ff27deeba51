"""A card's pictures as the persona's photo library: V3 ``assets`` and a PNG card's own image.

Why: the photo selector (``tools/photos.py``) picks from ``extensions.dora.photos``, files with
captions and tags. A card from elsewhere brings its pictures in other ways: the PNG card *is* the
avatar; a V3 card lists ``assets`` (``{"type": "icon"|"image"|..., "uri", "name", "ext"}``) whose
``uri`` is ``ccdefault:`` (the PNG itself), ``embeded://path`` (sic, the spec's spelling: bytes in a
``chara-ext-asset_:path`` chunk of the same PNG, or a file at that path in a CHARX archive),
``__asset:N`` (RisuAI's older spelling), a ``data:`` URI, or a web address. The import turns those
it can read into files beside the persona's card, with a caption from the asset's name that the
operator may edit in the card JSON afterwards. Web addresses are not fetched: DORA downloads
nothing at run time or import.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from personas.translit import slugify

PHOTO_TYPES = ("icon", "image", "x-image")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,(.*)$", re.DOTALL | re.IGNORECASE)
_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True)
class CardImage:
    """One picture found in a card: its bytes, a file-name stem, a caption, and where it came from."""

    data: bytes
    ext: str
    stem: str
    caption: str
    tags: tuple[str, ...]
    source: str  # the asset's uri, or "card image"


@dataclass
class CardImages:
    images: list[CardImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be taken, and why


def _image_ext(data: bytes) -> str | None:
    """The file extension for ``data`` if Pillow reads it as a picture; None if it is not one."""
    if len(data) > MAX_IMAGE_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            return _FORMATS.get(img.format or "")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _plain_png(data: bytes) -> bytes:
    """The card's picture without its text chunks (the card JSON is not part of the photo)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()


def _asset_chunk(chunks: dict[str, bytes], path: str) -> bytes | None:
    for key in (f"chara-ext-asset_:{path}", f"chara-ext-asset_{path}"):
        if key in chunks:
            try:
                return base64.b64decode(chunks[key].strip())
            except (binascii.Error, ValueError):
                return None
    return None


def _caption(name: str, fallback: str) -> tuple[str, tuple[str, ...]]:
    """``"beach_sunset"`` → caption "beach sunset", tags (beach, sunset); ``"main"`` → the persona's name."""
    words = [w for w in re.split(r"[\s_\-.]+", name) if w]
    if not words or name.strip().lower() in ("main", "default", "icon", "avatar"):
        return fallback, ("portrait",)
    return " ".join(words), tuple(w.lower() for w in words if len(w) > 2)


def _bytes_for(
    uri: str, chunks: dict[str, bytes], files: dict[str, bytes], card_png: bytes | None
) -> tuple[bytes | None, str]:
    """The asset's bytes, or None with the reason."""
    if uri.startswith("ccdefault:"):
        return (_plain_png(card_png), "") if card_png else (None, "ccdefault: the card is not a PNG")
    if uri.startswith("embeded://") or uri.startswith("embedded://"):
        path = uri.split("://", 1)[1]
        data = _asset_chunk(chunks, path) or files.get(path.lstrip("/"))
        return (data, "") if data else (None, "not in the card (no such PNG chunk or archive file)")
    if uri.startswith("__asset:"):
        data = _asset_chunk(chunks, uri.split(":", 1)[1])
        return (data, "") if data else (None, "its chunk is not in the PNG")
    if m := _DATA_URI.match(uri):
        try:
            return base64.b64decode(m.group(1)), ""
        except (binascii.Error, ValueError):
            return None, "bad base64 in the data: URI"
    if uri.startswith(("http://", "https://")):
        return None, "a web address: DORA downloads nothing; save the picture beside the card"
    return None, "an address DORA cannot read"


def card_images(
    data: dict[str, Any],
    name: str,
    *,
    chunks: dict[str, bytes] | None = None,
    files: dict[str, bytes] | None = None,
    card_png: bytes | None = None,
) -> CardImages:
    """The pictures of a card: its V3 icon/image assets, or else the PNG card's own image.

    ``chunks`` are a PNG card's text chunks (embedded assets in base64), ``files`` a CHARX archive's
    files by path (raw bytes)."""
    chunks, files = chunks or {}, files or {}
    found = CardImages()
    assets = data.get("assets")
    seen: set[bytes] = set()
    for asset in assets if isinstance(assets, list) else []:
        if not isinstance(asset, dict) or not isinstance(asset.get("uri"), str):
            continue
        kind = str(asset.get("type") or "")
        label = str(asset.get("name") or kind or "asset")
        if kind not in PHOTO_TYPES:
            found.notes.append(f"asset '{label}' ({kind or 'no type'}): not a photo type, left out")
            continue
        raw, why = _bytes_for(asset["uri"], chunks, files, card_png)
        ext = _image_ext(raw) if raw else None
        if raw is None or ext is None:
            found.notes.append(f"asset '{label}': {why or 'not a picture Pillow can read'}")
            continue
        if raw in seen:
            continue
        seen.add(raw)
        caption, tags = _caption(label, name)
        found.images.append(CardImage(raw, ext, label, caption, tags, asset["uri"]))
    if not found.images and card_png and (ext := _image_ext(card_png)):
        found.images.append(CardImage(_plain_png(card_png), ext, "avatar", name, ("portrait",), "card image"))
    return found


def _file_stem(stem: str, used: set[str]) -> str:
    base = slugify(stem, fallback="photo").replace("-", "_")
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base}_{n}", n + 1
    used.add(candidate)
    return candidate


def write_photos(images: list[CardImage], folder: Path, persona_id: str) -> list[dict[str, Any]]:
    """Write ``images`` under ``folder/photos/<id>/`` and return their ``extensions.dora.photos`` entries."""
    target = folder / "photos" / persona_id
    target.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    photos = []
    for image in images:
        file = f"{_file_stem(image.stem, used)}.{image.ext}"
        (target / file).write_bytes(image.data)
        photos.append(
            {
                "file": f"photos/{persona_id}/{file}",
                "caption": image.caption,
                "tags": list(image.tags),
                "asset": image.source,  # where it came from, so an export can say so
            }
        )
    return photos
