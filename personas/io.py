"""Reading and writing persona cards: JSON files and SillyTavern PNG cards.

A PNG card is an ordinary picture with the card in text chunks: ``chara`` holds base64 of the V2
JSON and ``ccv3`` base64 of the V3 JSON. We write both, so old and new readers each find theirs,
and read ``ccv3`` first because it is the newer, richer one. A CHARX file (V3's archive: a zip with
``card.json`` and its assets) is read too, never written.

Every failure is a :class:`CardError` whose message names the file and the field (``data.name:
field required``), because the person reading it is an operator who dropped a card into a folder
and needs to know what to fix, not a stack trace from pydantic.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from pydantic import ValidationError

from personas.adopt import Overrides, adopt
from personas.card import SPEC_V2, SPEC_V3, PersonaCard, Photo, Spec
from personas.modules import Module

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_CHUNKS = ("ccv3", "chara")  # in order of preference
MAX_CARD_BYTES = 16 * 1024 * 1024  # a card with a big lorebook is a few MB; more is not a card
MAX_FILE_BYTES = 64 * 1024 * 1024  # a PNG card is a picture plus the card; a CHARX, plus its assets
CARD_SUFFIXES = (".json", ".png", ".charx")


class CardError(ValueError):
    """A card that cannot be read or is not valid; ``field`` is the first offending field's path."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source, self.problems = source, problems
        self.field = problems[0][0] if problems else ""
        details = "; ".join(f"{field}: {msg}" if field else msg for field, msg in problems)
        super().__init__(f"card {source!r}: {details}")


def _field_path(loc: tuple[int | str, ...]) -> str:
    """``('data', 'extensions', 'dora', 'photos', 0, 'file')`` → ``data.extensions.dora.photos[0].file``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "field required"
    if kind == "enum" and error["loc"][-1:] == ("module",):
        return "must be one of " + ", ".join(m.value for m in Module)
    if kind == "literal_error" and error["loc"] == ("spec",):
        return f"must be {SPEC_V2!r} or {SPEC_V3!r} (a Character Card V2 or V3)"
    if kind == "string_pattern_mismatch" and error["loc"][-1:] == ("id",):
        return "must be a slug: lowercase latin letters, digits, '_' and '-'"
    msg = error["msg"].removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(_field_path(tuple(e["loc"])), _message(e)) for e in exc.errors()]


def _model_error(exc: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's problems; a model-level rule names its own field at the start of its message."""
    out = []
    for field, msg in validation_problems(exc):
        if not field and ": " in msg and msg.split(": ", 1)[0].startswith("data."):
            field, msg = msg.split(": ", 1)
        out.append((field, msg))
    return out


def card_from_dict(
    raw: Any, source: str, base_dir: Path | None = None, overrides: Overrides | None = None
) -> PersonaCard:
    """Validate already-parsed card data of any generation (V1, V2, V3; DORA's block or none);
    ``source`` names it in error messages, and the card says what was assumed (``card.assumed``)."""
    if not isinstance(raw, dict):
        raise CardError(source, [("", "a card must be a JSON object")])
    if "entries" in raw and "data" not in raw and "name" not in raw:
        raise CardError(
            source,
            [
                (
                    "",
                    "this is a lorebook (World Info), not a card: import it with --lorebook, or put it in "
                    "the persona folder as lorebooks/<persona id>.json",
                )
            ],
        )
    adoption = adopt(raw, overrides)
    try:
        card = PersonaCard.from_dict(adoption.raw, base_dir=base_dir)
    except ValidationError as exc:
        raise CardError(source, _model_error(exc)) from exc
    card.set_notes(adoption.assumed, adoption.ignored, id_assumed=adoption.id_assumed)
    return card


def _parse_json(text: bytes | str, source: str, what: str = "") -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardError(source, [(what, f"not valid JSON ({exc})")]) from exc


# -- PNG chunks -------------------------------------------------------------------------------------


def _inflate(data: bytes) -> bytes:
    """zlib-decompress at most MAX_CARD_BYTES, so a tiny compressed chunk cannot fill the memory."""
    return zlib.decompressobj().decompress(data, MAX_CARD_BYTES)


def iter_png_text(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(keyword, text) for each tEXt, zTXt and iTXt chunk.

    Read by hand rather than through Pillow: we need no pixels, chunks after the image data count,
    and Pillow's safety cap on text chunks (1 MB) is smaller than a card with a lorebook.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) < length:
            raise ValueError("the PNG is truncated")
        if kind == b"IEND":
            return
        if kind == b"tEXt":
            key, _, text = body.partition(b"\0")
            yield key.decode("latin-1"), text
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            yield key.decode("latin-1"), _inflate(rest[1:])
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            yield key.decode("latin-1"), _inflate(text) if compressed else text


def png_chunks(path: Path) -> dict[str, bytes]:
    """Every text chunk of a PNG (the card, and V3's embedded assets), as a CardError if unreadable."""
    try:
        return dict(iter_png_text(path.read_bytes()))
    except (ValueError, zlib.error) as exc:
        raise CardError(str(path), [("", f"unreadable PNG ({exc})")]) from exc


def _chunk_text(value: bytes, source: str, key: str) -> bytes:
    """The card JSON in a chunk: base64 (the spec), wrapped over lines or not; a few old tools wrote
    the JSON itself."""
    if value.lstrip().startswith(b"{"):
        return value
    try:
        return base64.b64decode(b"".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CardError(source, [(key, "PNG chunk is not valid base64")]) from exc


def _card_json_from_png(path: Path) -> tuple[Any, str]:
    source = str(path)
    chunks = png_chunks(path)
    for key in CARD_CHUNKS:
        if key in chunks:
            return _parse_json(_chunk_text(chunks[key], source, key), source, f"{key} chunk"), key
    raise CardError(source, [("", "the PNG holds no character card (no 'ccv3' or 'chara' text chunk)")])


def is_card_png(path: str | Path) -> bool:
    """Whether a PNG carries a card, so a folder can hold plain pictures next to PNG cards."""
    try:
        return any(key in CARD_CHUNKS for key, _ in iter_png_text(Path(path).read_bytes()))
    except (OSError, ValueError, zlib.error):
        return False


# -- public API ------------------------------------------------------------------------------------


def charx_files(path: Path) -> dict[str, bytes]:
    """A CHARX archive's files by path (``card.json``, ``assets/icon/images/main.png``…), size-capped."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if sum(i.file_size for i in infos) > MAX_FILE_BYTES:
                raise CardError(
                    str(path), [("", f"the archive unpacks to over {MAX_FILE_BYTES // 2**20} MB")]
                )
            return {i.filename.lstrip("/"): archive.read(i) for i in infos}
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:  # broken, odd or encrypted
        raise CardError(str(path), [("", f"not a readable CHARX archive ({exc})")]) from exc


def _card_json_from_charx(path: Path) -> Any:
    files = charx_files(path)
    if "card.json" not in files:
        raise CardError(str(path), [("", "the CHARX archive holds no card.json")])
    return _parse_json(files["card.json"], str(path), "card.json")


def embedded_files(path: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """What a card file carries besides its JSON: (PNG text chunks, CHARX files); empty for JSON."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        return png_chunks(path), {}
    if suffix == ".charx":
        return {}, charx_files(path)
    return {}, {}


def read_card_json(path: str | Path) -> Any:
    """The card's JSON as it is in the file (a ``.json``, a PNG's ``ccv3``/``chara`` chunk, a CHARX's
    ``card.json``)."""
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in CARD_SUFFIXES:
        raise CardError(source, [("", "a card must be a .json, .png or .charx file")])
    try:
        limit = MAX_CARD_BYTES if suffix == ".json" else MAX_FILE_BYTES
        if path.stat().st_size > limit:
            raise CardError(source, [("", f"too large for a card (over {limit // 2**20} MB)")])
        if suffix == ".json":
            return _parse_json(path.read_bytes(), source)
        return _card_json_from_png(path)[0] if suffix == ".png" else _card_json_from_charx(path)
    except OSError as exc:
        raise CardError(source, [("", f"cannot read the file ({exc.strerror or exc})")]) from exc


def load_card(path: str | Path, overrides: Overrides | None = None) -> PersonaCard:
    """A card from a ``.json``, ``.png`` or ``.charx`` file; photo paths resolve against its folder.

    A PNG card with no photos of its own gets its picture as a one-photo library, so a stock card
    dropped into a persona folder can still send how it looks.
    """
    path = Path(path)
    raw = read_card_json(path)
    card = card_from_dict(raw, str(path), base_dir=path.parent.resolve(), overrides=overrides)
    if path.suffix.lower() == ".png" and not card.dora.photos:
        card.set_avatar(Photo(file=path.name, caption=card.name, tags=["portrait"]))
    return card


def card_json(card: PersonaCard, spec: Spec | None = None) -> str:
    """The card as pretty JSON text (UTF-8 Russian kept readable, not \\u-escaped)."""
    return json.dumps(card.to_dict(spec), ensure_ascii=False, indent=2) + "\n"


def _write_atomic(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder, so a crash never leaves half a card behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_card_json(card: PersonaCard, path: str | Path) -> Path:
    """Write the card as JSON, exactly as read (no spec conversion)."""
    path = Path(path)
    _write_atomic(path, lambda fh: fh.write(card_json(card).encode("utf-8")))
    return path


def _placeholder(card: PersonaCard) -> Image.Image:
    """A plain picture for a card without photos, so every card can still become a PNG."""
    img = Image.new("RGB", (512, 512), (64, 56, 96))
    ImageDraw.Draw(img).text((24, 472), card.name, fill=(255, 255, 255))
    return img


def _card_image(card: PersonaCard, image: Image.Image | str | Path | None) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if image is None:
        photos = card.photo_library
        if not photos or card.base_dir is None or not card.photo_path(photos[0]).is_file():
            return _placeholder(card)
        image = card.photo_path(photos[0])
    with Image.open(image) as img:
        img.load()
        return img.copy()


def _embedded_assets(card: PersonaCard) -> list[tuple[str, bytes]]:
    """Photos that came from a V3 card's ``embeded://`` assets go back into their chunks, so the
    exported PNG's ``assets`` still point at something (the round trip keeps the pictures)."""
    out = []
    for photo in card.dora.photos:
        asset = (photo.model_extra or {}).get("asset")
        if not isinstance(asset, str) or "://" not in asset or not asset.startswith("embeded://"):
            continue
        if card.base_dir is not None and card.photo_path(photo).is_file():
            out.append((f"chara-ext-asset_:{asset.split('://', 1)[1]}", card.photo_path(photo).read_bytes()))
    return out


def export_card_png(
    card: PersonaCard, path: str | Path, image: Image.Image | str | Path | None = None
) -> Path:
    """Write a SillyTavern PNG card: ``image`` (default: the card's first photo) with both chunks.

    Photo paths stay relative to the card's original folder; copy the photos next to the PNG if it
    should be loaded by DORA elsewhere.
    """
    path = Path(path)
    img = _card_image(card, image)
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        img = img.convert("RGBA")
    info = PngInfo()
    chunks: tuple[tuple[str, Spec], ...] = (("chara", SPEC_V2), ("ccv3", SPEC_V3))
    for key, spec in chunks:
        payload = base64.b64encode(card_json(card, spec).encode("utf-8")).decode("ascii")
        info.add_text(key, payload)
    for chunk, data in _embedded_assets(card):
        info.add_text(chunk, base64.b64encode(data).decode("ascii"))
    _write_atomic(path, lambda fh: img.save(fh, format="PNG", pnginfo=info, optimize=True))
    return path
