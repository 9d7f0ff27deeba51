"""Card fixtures written the way other tools write them: JSON files, and PNG cards made with Pillow
(a ``chara`` chunk for V2; ``ccv3`` plus ``chara-ext-asset_:`` chunks for a V3 card with assets)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

FIXTURES = Path(__file__).parent / "fixtures" / "cards"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def picture(color: tuple[int, int, int], size: tuple[int, int] = (48, 64), fmt: str = "PNG") -> bytes:
    img = Image.new("RGB", size, color)
    ImageDraw.Draw(img).rectangle((4, 4, 20, 20), fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def png_card(
    path: Path,
    *,
    chara: dict[str, Any] | None = None,
    ccv3: dict[str, Any] | None = None,
    assets: dict[str, bytes] | None = None,
    color: tuple[int, int, int] = (90, 60, 120),
) -> Path:
    """A PNG card as SillyTavern or a hub writes it."""
    info = PngInfo()
    if chara is not None:
        info.add_text("chara", b64(json.dumps(chara, ensure_ascii=False)))
    if ccv3 is not None:
        info.add_text("ccv3", b64(json.dumps(ccv3, ensure_ascii=False)))
    for name, data in (assets or {}).items():
        info.add_text(f"chara-ext-asset_:{name}", b64(data))
    Image.new("RGB", (64, 96), color).save(path, pnginfo=info)
    return path


def v3_card_with_assets_and_lore() -> tuple[dict[str, Any], dict[str, bytes]]:
    """A V3 card (Russian) with a lorebook keyed «Атлантида» and four assets: the PNG itself, two
    embedded pictures, a data: URI, a web address (not fetched) and a background (not a photo)."""
    card = {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": "Марина",
            "nickname": "Мариша",
            "description": "{{char}} — океанолог, ей 33. Она ныряет к затонувшим городам и пишет книги.",
            "personality": "любопытная, спокойная",
            "scenario": "{{user}} переписывается с {{char}} между её экспедициями.",
            "first_mes": "Привет, {{user}}! Я только что с погружения.",
            "mes_example": "",
            "creator_notes": "V3 test card",
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": ["{{user}}, смотри, какая ракушка!"],
            "tags": ["ocean"],
            "creator": "test",
            "character_version": "3",
            "group_only_greetings": [],
            "creation_date": 1717000000,
            "modification_date": 1717000001,
            "assets": [
                {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
                {
                    "type": "image",
                    "uri": "embeded://assets/image/dive.png",
                    "name": "погружение",
                    "ext": "png",
                },
                {
                    "type": "image",
                    "uri": "embeded://assets/image/boat.jpg",
                    "name": "boat_deck",
                    "ext": "jpg",
                },
                {
                    "type": "image",
                    "uri": "data:image/png;base64," + b64(picture((0, 120, 200))),
                    "name": "shell",
                    "ext": "png",
                },
                {"type": "image", "uri": "https://example.com/reef.png", "name": "reef", "ext": "png"},
                {"type": "background", "uri": "embeded://assets/bg/sea.png", "name": "sea", "ext": "png"},
            ],
            "character_book": {
                "entries": [
                    {
                        "keys": ["Атлантида"],
                        "content": "{{char}} считает, что Атлантида — это Санторини после извержения.",
                        "enabled": True,
                        "insertion_order": 10,
                        "use_regex": False,
                        "name": "Атлантида",
                        "extensions": {},
                    }
                ],
                "extensions": {},
            },
            "extensions": {"risuai": {"utilityBot": False}, "depth_prompt": {"prompt": "", "depth": 4}},
        },
    }
    assets = {
        "assets/image/dive.png": picture((10, 80, 160)),
        "assets/image/boat.jpg": picture((200, 180, 40), fmt="JPEG"),
        "assets/bg/sea.png": picture((0, 0, 90)),
    }
    return card, assets
