"""Draws the built-in personas' photos: ``python -m personas.draw`` rewrites them all.

The photos are illustrations, not photographs, on purpose: no real person's likeness, nothing
explicit, no licence to track, and a reviewer can regenerate and diff them. Each picture is a
gradient sky, a simple scene and a stylised figure, with the persona's name and the photo's
Russian caption on a band at the bottom.

What each photo *is* (file, caption, tags, PRO) lives in the cards; this module only knows how
each one *looks* (:data:`SCENES`, keyed by the card's ``file``), so the two cannot disagree about
captions. Drawing is deterministic; it is done at twice the size and scaled down for smooth
edges, then reduced to a small palette so each file stays well under 60 KB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from personas.library import BUILTIN_DIR

SIZE = 512
SCALE = 2  # drawn at 1024, saved at 512: anti-aliasing for free
COLORS = 256  # palette after drawing: far smaller than RGB, and 256 keeps gradients smooth
BAND_TOP = 404

RGB = tuple[int, int, int]
RGBA = tuple[int, int, int, int]

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (it has Cyrillic); Pillow's own font as a last resort (Latin only)."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if path.is_file():
            return ImageFont.truetype(str(path), size * SCALE)
    print(f"warning: {name} not found; captions may not render Cyrillic", file=sys.stderr)
    return ImageFont.load_default(size * SCALE)


class Canvas:
    """ImageDraw in 512-pixel coordinates on a 1024-pixel RGBA image; translucent fills composite."""

    def __init__(self, top: RGB, bottom: RGB) -> None:
        self.img = Image.new("RGBA", (SIZE * SCALE, SIZE * SCALE))
        px = ImageDraw.Draw(self.img)
        height = SIZE * SCALE
        for y in range(height):
            t = y / (height - 1)
            px.line([(0, y), (SIZE * SCALE, y)], fill=(*_mix(top, bottom, t), 255))

    def _draw(self, fill: RGB | RGBA | None) -> tuple[ImageDraw.ImageDraw, Image.Image | None]:
        if fill is not None and len(fill) == 4 and fill[3] < 255:
            layer = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
            return ImageDraw.Draw(layer), layer
        return ImageDraw.Draw(self.img), None

    def _done(self, layer: Image.Image | None) -> None:
        if layer is not None:
            self.img.alpha_composite(layer)

    @staticmethod
    def _s(points: Sequence[float]) -> list[float]:
        return [p * SCALE for p in points]

    def ellipse(self, box: Sequence[float], fill: RGB | RGBA, outline: RGB | None = None, width: int = 0):
        d, layer = self._draw(fill)
        d.ellipse(self._s(box), fill=fill, outline=outline, width=width * SCALE)
        self._done(layer)

    def circle(self, x: float, y: float, r: float, fill: RGB | RGBA, outline: RGB | None = None, width=0):
        self.ellipse((x - r, y - r, x + r, y + r), fill, outline, width)

    def rect(self, box: Sequence[float], fill: RGB | RGBA, radius: float = 0, outline: RGB | None = None):
        d, layer = self._draw(fill)
        d.rounded_rectangle(self._s(box), radius=radius * SCALE, fill=fill, outline=outline, width=2 * SCALE)
        self._done(layer)

    def poly(self, points: Sequence[tuple[float, float]], fill: RGB | RGBA):
        d, layer = self._draw(fill)
        d.polygon([(x * SCALE, y * SCALE) for x, y in points], fill=fill)
        self._done(layer)

    def line(self, points: Sequence[tuple[float, float]], fill: RGB | RGBA, width: float = 3):
        d, layer = self._draw(fill)
        d.line(
            [(x * SCALE, y * SCALE) for x, y in points], fill=fill, width=round(width * SCALE), joint="curve"
        )
        self._done(layer)

    def arc(self, box: Sequence[float], start: float, end: float, fill: RGB | RGBA, width: float = 3):
        d, layer = self._draw(fill)
        d.arc(self._s(box), start, end, fill=fill, width=round(width * SCALE))
        self._done(layer)

    def pie(self, box: Sequence[float], start: float, end: float, fill: RGB | RGBA):
        d, layer = self._draw(fill)
        d.pieslice(self._s(box), start, end, fill=fill)
        self._done(layer)

    def text(self, xy: tuple[float, float], text: str, font, fill: RGB | RGBA) -> None:
        ImageDraw.Draw(self.img).text((xy[0] * SCALE, xy[1] * SCALE), text, font=font, fill=fill)

    def text_width(self, text: str, font) -> float:
        return ImageDraw.Draw(self.img).textlength(text, font=font) / SCALE

    def finish(self) -> Image.Image:
        small = self.img.resize((SIZE, SIZE), Image.Resampling.LANCZOS).convert("RGB")
        return small.quantize(colors=COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


# -- scene parts: each takes the canvas and draws one thing -----------------------------------------

Part = Callable[[Canvas], None]


def sun(x: float, y: float, r: float, color: RGB = (255, 214, 120), glow: bool = True) -> Part:
    def draw(c: Canvas) -> None:
        if glow:
            for k in (2.2, 1.6):
                c.circle(x, y, r * k, (*color, 40))
        c.circle(x, y, r, color)

    return draw


def moon(x: float, y: float, r: float, sky: RGB) -> Part:
    def draw(c: Canvas) -> None:
        c.circle(x, y, r, (250, 244, 220))
        c.circle(x + r * 0.45, y - r * 0.2, r * 0.9, sky)

    return draw


def stars(points: Sequence[tuple[float, float]]) -> Part:
    def draw(c: Canvas) -> None:
        for x, y in points:
            c.circle(x, y, 1.8, (255, 255, 235, 220))

    return draw


def hills(base: float, color: RGB, amp: float = 26, phase: float = 0.0) -> Part:
    def draw(c: Canvas) -> None:
        pts = [(x, base - amp * math.sin(x / 90 + phase)) for x in range(0, SIZE + 8, 8)]
        c.poly([(0, SIZE), *pts, (SIZE, SIZE)], color)

    return draw


def mountains(peaks: Sequence[tuple[float, float]], base: float, color: RGB, snow: RGB | None = None) -> Part:
    def draw(c: Canvas) -> None:
        c.poly([(-20, base), *peaks, (SIZE + 20, base), (SIZE + 20, SIZE), (-20, SIZE)], color)
        if snow:
            for (x, y), (_, next_y) in itertools.pairwise(peaks):
                if y < next_y:
                    c.poly([(x, y), (x - 18, y + 26), (x + 18, y + 26)], snow)

    return draw


def sea(top: float, color: RGB, foam: RGB = (255, 255, 255)) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((0, top, SIZE, SIZE), color)
        for i, y in enumerate(range(int(top) + 14, SIZE, 22)):
            pts = [(x, y + 4 * math.sin(x / 22 + i)) for x in range(0, SIZE + 6, 6)]
            c.line(pts, (*foam, 90), 2)

    return draw


def sand(top: float, color: RGB = (240, 214, 160)) -> Part:
    def draw(c: Canvas) -> None:
        pts = [(x, top + 10 * math.sin(x / 120)) for x in range(0, SIZE + 8, 8)]
        c.poly([(0, SIZE), *pts, (SIZE, SIZE)], color)

    return draw


def skyline(base: float, color: RGB, window: RGB | None = None, seed: int = 3) -> Part:
    def draw(c: Canvas) -> None:
        x, k = -10.0, seed
        while x < SIZE:
            k = (k * 1103515245 + 12345) % 2**31  # a tiny deterministic LCG: same city every run
            w, h = 34 + k % 40, 60 + (k // 7) % 120
            c.rect((x, base - h, x + w, base + 2), color)
            if window:
                for wy in range(int(base - h + 10), int(base - 10), 16):
                    for wx in range(int(x + 6), int(x + w - 8), 12):
                        if (wx * 7 + wy * 3 + k) % 5 < 2:
                            c.rect((wx, wy, wx + 5, wy + 7), window)
            x += w + 4

    return draw


def window(box: tuple[float, float, float, float], frame: RGB, sky_top: RGB, sky_bottom: RGB) -> Part:
    def draw(c: Canvas) -> None:
        x0, y0, x1, y1 = box
        for i in range(int(y1 - y0)):
            c.line([(x0, y0 + i), (x1, y0 + i)], _mix(sky_top, sky_bottom, i / (y1 - y0)), 1)
        w = 6
        c.rect((x0 - w, y0 - w, x1 + w, y0), frame)
        c.rect((x0 - w, y1, x1 + w, y1 + w + 8), frame)
        c.rect((x0 - w, y0, x0, y1), frame)
        c.rect((x1, y0, x1 + w, y1), frame)
        c.rect(((x0 + x1) / 2 - 3, y0, (x0 + x1) / 2 + 3, y1), frame)

    return draw


def floor(y: float, color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((0, y, SIZE, SIZE), color)

    return draw


def tree(x: float, base: float, h: float, crown: RGB, trunk: RGB = (110, 74, 52)) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((x - 6, base - h * 0.55, x + 6, base), trunk, radius=3)
        for dx, dy, r in ((-22, -0.62, 30), (22, -0.64, 32), (0, -0.86, 36)):
            c.circle(x + dx, base + dy * h, r, crown)

    return draw


def leaves(points: Sequence[tuple[float, float]], color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        for x, y in points:
            c.ellipse((x - 6, y - 3, x + 6, y + 3), color)

    return draw


def cup(x: float, y: float, color: RGB, steam: bool = True, s: float = 1.0) -> Part:
    """A mug whose bottom centre is at (x, y)."""

    def draw(c: Canvas) -> None:
        w, h = 40 * s, 46 * s
        c.arc((x + w / 2 - 12 * s, y - h + 8 * s, x + w / 2 + 16 * s, y - 12 * s), -90, 90, color, 7 * s)
        c.rect((x - w / 2, y - h, x + w / 2, y), color, radius=8 * s)
        c.ellipse((x - w / 2 + 4 * s, y - h - 3 * s, x + w / 2 - 4 * s, y - h + 7 * s), (92, 58, 40))
        if steam:
            for dx in (-9 * s, 7 * s):
                pts = [(x + dx + 5 * s * math.sin(t / 3), y - h - 10 * s - t * 3 * s) for t in range(10)]
                c.line(pts, (255, 255, 255, 150), 3 * s)

    return draw


def table(y: float, color: RGB, x0: float = 40, x1: float = 472, legs: bool = True) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((x0, y, x1, y + 12), color, radius=4)
        if legs:
            shade = _mix(color, (0, 0, 0), 0.25)
            for lx in (x0 + 24, x1 - 34):
                c.rect((lx, y + 12, lx + 10, SIZE), shade)

    return draw


@dataclass(frozen=True)
class Look:
    """How a persona's figure looks: colours and hairstyle."""

    skin: RGB
    hair: RGB
    shirt: RGB
    style: str  # long, ponytail, short, bun, wavy
    accent: RGB = (230, 120, 130)


def figure(look: Look, x: float, y: float, s: float = 1.0, arm: str = "") -> Part:
    """A stylised half figure: (x, y) is the centre of the head. ``arm``: wave, cup, camera, mic, none."""

    def draw(c: Canvas) -> None:
        r = 42 * s
        hair = look.hair
        if look.style in ("long", "wavy"):
            c.rect((x - r * 1.12, y - r * 0.4, x + r * 1.12, y + r * 2.1), hair, radius=r * 0.7)
        if look.style == "ponytail":
            c.ellipse((x + r * 0.7, y - r * 0.5, x + r * 1.5, y + r * 1.3), hair)
        # body and neck
        c.pie((x - r * 1.9, y + r * 1.2, x + r * 1.9, y + r * 5.2), 180, 360, look.shirt)
        c.rect((x - r * 1.9, y + r * 3.18, x + r * 1.9, SIZE + 10), look.shirt)
        c.rect((x - r * 0.32, y + r * 0.7, x + r * 0.32, y + r * 1.45), look.skin, radius=r * 0.15)
        # head
        c.circle(x, y, r, look.skin)
        if look.style == "short":
            c.pie((x - r * 1.06, y - r * 1.1, x + r * 1.06, y + r * 0.7), 180, 360, hair)
        else:
            c.pie((x - r * 1.1, y - r * 1.12, x + r * 1.1, y + r * 0.8), 180, 360, hair)
            c.ellipse((x - r * 1.06, y - r * 0.6, x - r * 0.55, y + r * 0.4), hair)
        if look.style == "bun":
            c.circle(x, y - r * 1.05, r * 0.42, hair)
        if look.style == "wavy":
            for k in range(4):
                c.circle(x - r * 1.05 + k * 0.05 * r, y + r * (0.4 + k * 0.45), r * 0.28, hair)
                c.circle(x + r * 1.05 - k * 0.05 * r, y + r * (0.4 + k * 0.45), r * 0.28, hair)
        # face: two eyes, a smile, cheeks
        eye = (60, 44, 44)
        c.circle(x - r * 0.36, y + r * 0.1, r * 0.09, eye)
        c.circle(x + r * 0.36, y + r * 0.1, r * 0.09, eye)
        c.arc((x - r * 0.32, y + r * 0.1, x + r * 0.32, y + r * 0.55), 20, 160, eye, max(2.0, 3 * s))
        c.circle(x - r * 0.6, y + r * 0.38, r * 0.14, (*look.accent, 90))
        c.circle(x + r * 0.6, y + r * 0.38, r * 0.14, (*look.accent, 90))
        # arms and props
        hand = (x + r * 1.25, y + r * 2.2)
        if arm:
            c.line(
                [(x + r * 1.45, y + r * 3.6), (hand[0] + r * 0.3, hand[1] + r * 0.5)], look.shirt, r * 0.55
            )
            c.circle(hand[0] + r * 0.25, hand[1] + r * 0.35, r * 0.26, look.skin)
        if arm == "wave":
            c.arc(
                (hand[0] - r * 0.2, hand[1] - r * 0.8, hand[0] + r * 1.2, hand[1] + r * 0.4),
                -80,
                10,
                (255, 255, 255, 140),
                3,
            )
        elif arm == "cup":
            cup(hand[0] + r * 0.3, hand[1] + r * 0.2, look.accent, steam=True, s=0.75 * s)(c)
        elif arm == "camera":
            cx, cy = hand[0] + r * 0.1, hand[1] - r * 0.05
            c.rect((cx - r * 0.6, cy - r * 0.35, cx + r * 0.6, cy + r * 0.4), (40, 40, 48), radius=r * 0.12)
            c.circle(cx, cy + r * 0.03, r * 0.26, (120, 160, 200), outline=(20, 20, 24), width=3)
            c.rect((cx + r * 0.25, cy - r * 0.5, cx + r * 0.5, cy - r * 0.35), (40, 40, 48))
        elif arm == "mic":
            mx, my = hand[0] + r * 0.2, hand[1] - r * 0.1
            c.line([(mx, my + r * 0.3), (mx - r * 0.2, my - r * 0.5)], (50, 50, 60), r * 0.2)
            c.circle(mx - r * 0.25, my - r * 0.65, r * 0.26, (200, 200, 210))
        elif arm == "spoon":
            c.line(
                [(hand[0] + r * 0.2, hand[1] + r * 0.3), (hand[0] - r * 0.6, hand[1] + r * 1.4)],
                (150, 110, 80),
                r * 0.14,
            )

    return draw


def cat(x: float, y: float, color: RGB, s: float = 1.0) -> Part:
    """A sitting cat; (x, y) is where it sits."""

    def draw(c: Canvas) -> None:
        c.ellipse((x - 30 * s, y - 52 * s, x + 30 * s, y), color)
        c.circle(x, y - 62 * s, 22 * s, color)
        c.poly([(x - 20 * s, y - 72 * s), (x - 14 * s, y - 96 * s), (x - 2 * s, y - 80 * s)], color)
        c.poly([(x + 20 * s, y - 72 * s), (x + 14 * s, y - 96 * s), (x + 2 * s, y - 80 * s)], color)
        c.arc((x + 14 * s, y - 40 * s, x + 64 * s, y + 4 * s), 90, 300, color, 8 * s)
        c.circle(x - 8 * s, y - 64 * s, 2.5 * s, (40, 40, 30))
        c.circle(x + 8 * s, y - 64 * s, 2.5 * s, (40, 40, 30))

    return draw


def book(x: float, y: float, color: RGB, page: RGB = (250, 246, 236)) -> Part:
    """An open sketchbook with a drawing; (x, y) is its centre."""

    def draw(c: Canvas) -> None:
        c.rect((x - 92, y - 58, x + 92, y + 58), color, radius=6)
        c.rect((x - 86, y - 52, x - 2, y + 52), page, radius=3)
        c.rect((x + 2, y - 52, x + 86, y + 52), page, radius=3)
        c.circle(x + 44, y - 10, 18, (250, 190, 80))
        c.poly([(x + 12, y + 40), (x + 44, y + 4), (x + 76, y + 40)], (120, 180, 140))
        for ly in range(int(y - 36), int(y + 40), 14):
            c.line([(x - 76, ly), (x - 14, ly)], (190, 190, 200), 2)

    return draw


def blanket(y: float, color: RGB, stripe: RGB) -> Part:
    def draw(c: Canvas) -> None:
        pts = [(x, y + 8 * math.sin(x / 40)) for x in range(0, SIZE + 8, 8)]
        c.poly([(0, SIZE), *pts, (SIZE, SIZE)], color)
        for k in range(3):
            c.line([(x, y + 22 + k * 22 + 8 * math.sin(x / 40)) for x in range(0, SIZE + 8, 8)], stripe, 5)

    return draw


def lamp(x: float, y: float, glow: RGB = (255, 210, 130)) -> Part:
    def draw(c: Canvas) -> None:
        c.circle(x, y + 40, 70, (*glow, 45))
        c.line([(x, 0), (x, y)], (60, 50, 50), 2)
        c.poly([(x - 28, y + 30), (x - 14, y), (x + 14, y), (x + 28, y + 30)], glow)

    return draw


def stove_pot(x: float, y: float, color: RGB) -> Part:
    """A pot on a hob with steam; (x, y) is the pot's bottom centre."""

    def draw(c: Canvas) -> None:
        c.rect((x - 110, y, x + 110, y + 18), (70, 70, 80), radius=4)
        c.rect((x - 58, y - 62, x + 58, y), color, radius=10)
        c.rect((x - 70, y - 70, x + 70, y - 58), _mix(color, (0, 0, 0), 0.2), radius=5)
        c.rect((x - 84, y - 52, x - 58, y - 42), _mix(color, (0, 0, 0), 0.3), radius=4)
        c.rect((x + 58, y - 52, x + 84, y - 42), _mix(color, (0, 0, 0), 0.3), radius=4)
        for dx in (-30, 0, 30):
            pts = [(x + dx + 7 * math.sin(t / 2.5), y - 80 - t * 5) for t in range(14)]
            c.line(pts, (255, 255, 255, 140), 4)

    return draw


def herbs(x: float, y: float) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((x - 24, y - 36, x + 24, y), (196, 110, 80), radius=6)
        for dx, h in ((-12, 40), (0, 56), (12, 44)):
            c.line([(x + dx, y - 36), (x + dx, y - 36 - h)], (70, 140, 80), 4)
            c.ellipse((x + dx - 9, y - 40 - h, x + dx + 9, y - 28 - h), (90, 170, 100))

    return draw


def guitar(x: float, y: float, color: RGB) -> Part:
    """An acoustic guitar held diagonally; (x, y) is the body's centre."""

    def draw(c: Canvas) -> None:
        c.line([(x, y), (x + 150, y - 150)], (90, 60, 40), 14)
        c.rect((x + 140, y - 176, x + 176, y - 140), (60, 40, 30), radius=6)
        c.circle(x - 12, y + 14, 58, color)
        c.circle(x + 26, y - 26, 44, color)
        c.circle(x + 4, y - 4, 16, (50, 34, 26))
        for k in (-4, 0, 4):
            c.line([(x - 40 + k, y + 40 + k), (x + 160 + k, y - 160 + k)], (240, 230, 210, 160), 1)

    return draw


def notes(points: Sequence[tuple[float, float]], color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        for x, y in points:
            c.ellipse((x - 9, y - 6, x + 9, y + 6), color)
            c.line([(x + 8, y), (x + 8, y - 34)], color, 3)
            c.line([(x + 8, y - 34), (x + 20, y - 26)], color, 3)

    return draw


def rain(color: RGBA = (220, 230, 255, 120)) -> Part:
    def draw(c: Canvas) -> None:
        for i in range(90):
            x, y = (i * 73) % SIZE, (i * 131) % (BAND_TOP - 20)
            c.line([(x, y), (x - 6, y + 18)], color, 2)

    return draw


def umbrella(x: float, y: float, color: RGB) -> Part:
    """An umbrella whose canopy centre top is at (x, y)."""

    def draw(c: Canvas) -> None:
        c.pie((x - 120, y, x + 120, y + 150), 180, 360, color)
        for k in range(-2, 3):
            c.arc(
                (x + k * 48 - 24, y + 62, x + k * 48 + 24, y + 88), 180, 360, _mix(color, (0, 0, 0), 0.2), 3
            )
        c.line([(x, y + 75), (x, y + 240)], (50, 50, 60), 5)

    return draw


def spotlights(colors: Sequence[RGB]) -> Part:
    def draw(c: Canvas) -> None:
        n = len(colors)
        for i, col in enumerate(colors):
            sx = SIZE * (i + 0.5) / n
            c.poly(
                [(sx - 8, 0), (sx + 8, 0), (sx + 120 - i * 60, 400), (sx - 120 - i * 40 + 80, 400)],
                (*col, 60),
            )
            c.circle(sx, 6, 14, col)

    return draw


def stage_floor(y: float, color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((0, y, SIZE, SIZE), color)
        for k in range(6):
            c.line([(0, y + 8 + k * 16), (SIZE, y + 8 + k * 16)], _mix(color, (255, 255, 255), 0.12), 2)

    return draw


def crowd(y: float, color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        for i in range(14):
            x = 18 + i * 38
            c.circle(x, y + (i % 3) * 6, 18, color)
            c.rect((x - 22, y + 14 + (i % 3) * 6, x + 22, SIZE), color, radius=10)
        for i in (2, 7, 11):
            x = 18 + i * 38
            c.line([(x + 10, y), (x + 26, y - 50)], color, 8)

    return draw


def mirror(x: float, y: float, w: float, h: float) -> Part:
    """A backstage mirror with bulbs around it; (x, y) is the top left."""

    def draw(c: Canvas) -> None:
        c.rect((x, y, x + w, y + h), (70, 60, 70), radius=10)
        c.rect((x + 14, y + 14, x + w - 14, y + h - 14), (200, 214, 226), radius=6)
        c.line([(x + 40, y + h - 30), (x + w - 60, y + 30)], (240, 248, 255, 160), 8)
        for k in range(6):
            for bx, by in ((x + 10 + k * (w - 20) / 5, y + 6), (x + 10 + k * (w - 20) / 5, y + h - 6)):
                c.circle(bx, by, 9, (255, 240, 190))

    return draw


def studio_mic(x: float, y: float) -> Part:
    """A studio microphone on a stand with a pop filter; (x, y) is the mic's centre."""

    def draw(c: Canvas) -> None:
        c.line([(x, y + 60), (x, SIZE)], (50, 50, 60), 8)
        c.rect((x - 26, y - 60, x + 26, y + 50), (180, 180, 190), radius=26)
        for k in range(5):
            c.line([(x - 22, y - 40 + k * 14), (x + 22, y - 40 + k * 14)], (120, 120, 130), 2)
        c.circle(x - 90, y - 10, 46, (30, 30, 40, 120), outline=(40, 40, 50), width=4)
        c.line([(x - 46, y - 4), (x - 26, y)], (40, 40, 50), 4)

    return draw


def headphones(x: float, y: float, color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        c.arc((x - 50, y - 50, x + 50, y + 50), 180, 360, color, 10)
        c.rect((x - 62, y - 8, x - 36, y + 36), color, radius=8)
        c.rect((x + 36, y - 8, x + 62, y + 36), color, radius=8)

    return draw


def laptop(x: float, y: float) -> Part:
    """A laptop on a desk; (x, y) is the bottom centre."""

    def draw(c: Canvas) -> None:
        c.rect((x - 70, y - 90, x + 70, y - 6), (60, 64, 76), radius=6)
        c.rect((x - 62, y - 82, x + 62, y - 14), (150, 190, 230), radius=3)
        c.rect((x - 86, y - 8, x + 86, y + 2), (90, 94, 106), radius=3)

    return draw


def chair_back(x: float, y: float, color: RGB) -> Part:
    def draw(c: Canvas) -> None:
        c.rect((x - 60, y, x + 60, y + 120), color, radius=24)

    return draw


def clipboard(x: float, y: float) -> Part:
    """A clipboard with three ticked points; (x, y) is its centre."""

    def draw(c: Canvas) -> None:
        c.rect((x - 90, y - 120, x + 90, y + 120), (150, 110, 80), radius=10)
        c.rect((x - 76, y - 100, x + 76, y + 110), (252, 250, 244), radius=4)
        c.rect((x - 34, y - 132, x + 34, y - 108), (120, 120, 130), radius=6)
        for k, tick in enumerate(((90, 180, 110), (90, 180, 110), (240, 170, 60))):
            ly = y - 60 + k * 56
            c.line([(x - 60, ly), (x - 50, ly + 10), (x - 32, ly - 12)], tick, 6)
            c.line([(x - 16, ly), (x + 56, ly)], (170, 170, 180), 5)
            c.line([(x - 16, ly + 16), (x + 30, ly + 16)], (200, 200, 208), 4)

    return draw


def speech(x: float, y: float, w: float, color: RGBA, tail_left: bool = True) -> Part:
    """A speech bubble with three dots; (x, y) is its top left."""

    def draw(c: Canvas) -> None:
        h = 54
        c.rect((x, y, x + w, y + h), color, radius=22)
        tx = x + 30 if tail_left else x + w - 30
        c.poly(
            [(tx - 10, y + h - 2), (tx + 10, y + h - 2), (tx - (16 if tail_left else -16), y + h + 18)], color
        )
        for k in (-1, 0, 1):
            c.circle(x + w / 2 + k * 20, y + h / 2, 5, (90, 90, 110))

    return draw


def heart(x: float, y: float, s: float, color: RGB | RGBA) -> Part:
    def draw(c: Canvas) -> None:
        c.circle(x - 10 * s, y, 11 * s, color)
        c.circle(x + 10 * s, y, 11 * s, color)
        c.poly([(x - 20.5 * s, y + 3 * s), (x + 20.5 * s, y + 3 * s), (x, y + 26 * s)], color)

    return draw


def candle(x: float, y: float) -> Part:
    def draw(c: Canvas) -> None:
        c.circle(x, y - 48, 26, (255, 210, 120, 60))
        c.rect((x - 8, y - 40, x + 8, y), (250, 244, 226), radius=3)
        c.ellipse((x - 6, y - 62, x + 6, y - 42), (255, 190, 80))

    return draw


def film_frame(x: float, y: float, w: float, h: float, inner: RGB) -> Part:
    """A polaroid-style print, for the photographer."""

    def draw(c: Canvas) -> None:
        c.rect((x, y, x + w, y + h), (252, 252, 248), radius=4)
        c.rect((x + 10, y + 10, x + w - 10, y + h - 34), inner)
        c.circle(x + w * 0.65, y + h * 0.3, 12, (255, 220, 140))

    return draw


# -- the library's photos --------------------------------------------------------------------------

DORA = Look(skin=(246, 214, 190), hair=(122, 72, 46), shirt=(235, 150, 120), style="bun")
KYLIE = Look(
    skin=(250, 220, 196), hair=(226, 172, 96), shirt=(90, 170, 190), style="ponytail", accent=(240, 110, 120)
)
MARK = Look(
    skin=(232, 196, 164), hair=(58, 44, 38), shirt=(70, 96, 130), style="short", accent=(220, 130, 120)
)
VERA = Look(skin=(244, 210, 184), hair=(84, 56, 50), shirt=(120, 90, 150), style="long")
LINA = Look(
    skin=(238, 200, 176), hair=(40, 30, 60), shirt=(200, 60, 130), style="wavy", accent=(250, 120, 170)
)


@dataclass(frozen=True)
class Scene:
    top: RGB
    bottom: RGB
    parts: list[Part] = field(default_factory=list)
    band: RGB = (30, 24, 40)


SCENES: dict[str, Scene] = {
    # Дора: support, a warm friend at home.
    "photos/dora/morning_coffee.png": Scene(
        (252, 224, 196),
        (244, 178, 150),
        [
            window((250, 40, 470, 300), (255, 250, 244), (160, 206, 240), (255, 226, 180)),
            sun(410, 210, 30, glow=False),
            figure(DORA, 160, 150, 1.1, arm="cup"),
            table(360, (196, 140, 100), 0, SIZE, legs=False),
            cup(420, 360, (120, 170, 160), steam=True),
        ],
    ),
    "photos/dora/park_walk.png": Scene(
        (255, 214, 160),
        (236, 150, 110),
        [
            sun(400, 90, 36),
            hills(300, (214, 150, 90), 18),
            tree(70, 320, 200, (230, 120, 60)),
            tree(440, 300, 170, (240, 170, 60)),
            leaves([(120, 80), (300, 60), (350, 150), (60, 200), (470, 120), (250, 130)], (230, 110, 50)),
            figure(DORA, 256, 170, 1.0, arm="wave"),
        ],
    ),
    "photos/dora/cat_evening.png": Scene(
        (70, 60, 110),
        (150, 100, 140),
        [
            lamp(90, 90),
            figure(DORA, 230, 180, 1.0),
            blanket(300, (220, 120, 110), (250, 200, 170)),
            cat(400, 330, (236, 140, 60), 1.1),
        ],
    ),
    "photos/dora/sketchbook.png": Scene(
        (230, 236, 246),
        (200, 214, 236),
        [
            figure(DORA, 256, 120, 0.95),
            table(300, (170, 130, 100), 0, SIZE, legs=False),
            book(256, 350, (90, 110, 160)),
        ],
    ),
    # Кайли: partner, travel and photography.
    "photos/kylie/rooftop_sunset.png": Scene(
        (250, 150, 120),
        (110, 70, 130),
        [
            sun(256, 250, 60, (255, 200, 110)),
            skyline(330, (70, 50, 90), (255, 210, 130), seed=5),
            figure(KYLIE, 170, 170, 1.05, arm="camera"),
            heart(420, 90, 1.0, (255, 255, 255, 150)),
        ],
    ),
    "photos/kylie/morning_coffee.png": Scene(
        (255, 236, 210),
        (244, 200, 170),
        [
            floor(330, (200, 150, 120)),
            window((40, 50, 200, 240), (140, 90, 70), (170, 210, 240), (250, 230, 200)),
            figure(KYLIE, 320, 160, 1.0, arm="cup"),
            table(330, (150, 100, 80), 210, SIZE),
            film_frame(60, 280, 90, 104, (120, 170, 200)),
        ],
    ),
    "photos/kylie/beach.png": Scene(
        (130, 200, 240),
        (250, 220, 180),
        [
            sun(420, 80, 34),
            sea(260, (60, 150, 200)),
            sand(340),
            figure(KYLIE, 220, 170, 1.05, arm="wave"),
            film_frame(390, 300, 80, 94, (60, 150, 200)),
        ],
    ),
    "photos/kylie/mountain_lake.png": Scene(
        (250, 190, 150),
        (150, 190, 230),
        [
            sun(120, 150, 30, (255, 220, 160)),
            mountains(
                [(40, 170), (150, 90), (260, 200), (360, 110), (470, 190)],
                300,
                (110, 120, 160),
                (250, 250, 255),
            ),
            sea(300, (80, 140, 190)),
            figure(KYLIE, 330, 200, 0.95, arm="camera"),
        ],
    ),
    # Марк: partner, cooking and music.
    "photos/mark/cooking.png": Scene(
        (252, 230, 200),
        (230, 190, 150),
        [
            floor(320, (120, 90, 70)),
            figure(MARK, 190, 140, 1.05, arm="spoon"),
            stove_pot(370, 320, (180, 70, 60)),
            herbs(70, 320),
        ],
    ),
    "photos/mark/guitar.png": Scene(
        (60, 50, 80),
        (120, 80, 90),
        [
            lamp(420, 80),
            figure(MARK, 220, 130, 1.0),
            guitar(200, 320, (200, 140, 80)),
            notes([(400, 220), (440, 180), (360, 170)], (255, 220, 150)),
        ],
    ),
    "photos/mark/morning_coffee.png": Scene(
        (200, 220, 240),
        (250, 220, 190),
        [
            sun(110, 110, 40),
            skyline(330, (150, 160, 190), None, seed=11),
            table(330, (230, 230, 236), 0, SIZE, legs=False),
            figure(MARK, 330, 160, 1.0, arm="cup"),
            herbs(80, 330),
        ],
    ),
    "photos/mark/rain_walk.png": Scene(
        (70, 90, 120),
        (120, 130, 160),
        [
            skyline(340, (60, 70, 96), (255, 220, 150), seed=7),
            rain(),
            umbrella(256, 70, (60, 130, 120)),
            figure(MARK, 256, 200, 0.95),
        ],
    ),
    # Вера: practice, a conversation coach.
    "photos/coach/office.png": Scene(
        (226, 234, 244),
        (190, 206, 226),
        [
            floor(320, (170, 176, 190)),
            window((330, 40, 480, 200), (250, 250, 252), (170, 200, 230), (220, 234, 248)),
            figure(VERA, 170, 150, 1.0),
            table(300, (140, 110, 90), 0, SIZE),
            laptop(360, 300),
            speech(250, 60, 120, (255, 255, 255, 230)),
        ],
    ),
    "photos/coach/date_cafe.png": Scene(
        (120, 70, 90),
        (200, 120, 110),
        [
            lamp(256, 60, (255, 200, 140)),
            chair_back(110, 250, (90, 50, 60)),
            chair_back(402, 250, (90, 50, 60)),
            table(320, (230, 200, 170), 40, 472),
            candle(256, 320),
            cup(170, 320, (250, 250, 250), steam=True, s=0.8),
            cup(342, 320, (250, 250, 250), steam=True, s=0.8),
            speech(60, 90, 110, (255, 255, 255, 220)),
            speech(340, 130, 110, (255, 230, 240, 220), tail_left=False),
        ],
    ),
    "photos/coach/feedback_notes.png": Scene(
        (236, 240, 226),
        (210, 224, 200),
        [
            figure(VERA, 130, 150, 0.95, arm="wave"),
            clipboard(350, 240),
        ],
    ),
    # Лина Вега: celebrity, a fictional pop singer.
    "photos/star/stage.png": Scene(
        (40, 20, 70),
        (120, 40, 110),
        [
            spotlights([(255, 120, 200), (120, 200, 255), (255, 220, 120)]),
            stage_floor(300, (50, 30, 60)),
            figure(LINA, 256, 140, 1.0, arm="mic"),
            crowd(350, (24, 16, 36)),
        ],
    ),
    "photos/star/backstage.png": Scene(
        (80, 60, 90),
        (150, 100, 120),
        [
            mirror(250, 40, 230, 260),
            figure(LINA, 150, 150, 1.0),
            table(330, (60, 44, 60), 0, SIZE, legs=False),
        ],
    ),
    "photos/star/studio.png": Scene(
        (30, 40, 60),
        (70, 60, 100),
        [
            notes([(80, 80), (430, 60), (460, 140)], (160, 220, 255)),
            figure(LINA, 200, 150, 1.0),
            headphones(200, 130, (40, 40, 50)),
            studio_mic(380, 220),
        ],
    ),
}


def _wrap(c: Canvas, text: str, font, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and c.text_width(candidate, font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


def render(scene: Scene, name: str, caption: str) -> Image.Image:
    """The picture for one photo: the scene, then a band with the name and the caption."""
    c = Canvas(scene.top, scene.bottom)
    for part in scene.parts:
        part(c)
    c.rect((14, BAND_TOP, SIZE - 14, SIZE - 14), (*scene.band, 190), radius=18)
    c.text((32, BAND_TOP + 10), name, _font(28, bold=True), (255, 255, 255))
    small = _font(18)
    for i, line in enumerate(_wrap(c, caption, small, SIZE - 64)[:2]):
        c.text((32, BAND_TOP + 48 + i * 22), line, small, (236, 230, 240))
    return c.finish()


def save_png(img: Image.Image, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=True)
    return path.stat().st_size


def library_photos(library_dir: Path) -> list[tuple[str, str, str]]:
    """(file, persona name, Russian caption) for every photo in the library's cards."""
    out = []
    for card_path in sorted(library_dir.glob("*.json")):
        data = json.loads(card_path.read_text(encoding="utf-8"))["data"]
        for photo in data["extensions"]["dora"].get("photos", []):
            caption = photo.get("caption", "")
            caption = (
                caption.get("ru") or next(iter(caption.values()), "")
                if isinstance(caption, dict)
                else caption
            )
            out.append((photo["file"], data["name"], caption))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Redraw the built-in personas' photos.")
    parser.add_argument("--library", type=Path, default=BUILTIN_DIR, help="folder with the cards")
    args = parser.parse_args(argv)
    photos = library_photos(args.library)
    missing = [file for file, _, _ in photos if file not in SCENES]
    if missing:
        print(f"no scene for: {', '.join(missing)}", file=sys.stderr)
        return 1
    for file, name, caption in photos:
        size = save_png(render(SCENES[file], name, caption), args.library / file)
        print(f"{file}: {size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
