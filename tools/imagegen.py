"""Generated images of the persona: a local diffusers text-to-image pipeline, loaded once, offline.

Off unless ``DORA_IMAGE_MODEL`` names a diffusers pipeline folder (Stable Diffusion family):
the application builds an :class:`ImageGenerator` on it, otherwise there is none and the bot
only ever sends the personas' own photos. Nothing downloads: the folder is read with
``local_files_only=True`` and ``HF_HUB_OFFLINE=1``.

Where it runs. On CUDA when there is a GPU (fp16 weights: half the memory, several times faster);
otherwise on the CPU in fp32 (fp16 matmuls are slow or missing there) with ``torch`` on one thread,
the project's rule on its 2-core machine so the LLM and the embedder keep a core. A 512×512 image in
25 steps of SD 1.5 takes seconds on a GPU and minutes on two cores, hence the time limit.

Safety, in three layers:

1. :func:`~tools.image_policy.check_image_request` refuses the request before anything runs:
   explicit imagery ever, real people, minors in any suggestive context (see its docstring).
2. The prompt :func:`build_prompt` writes never carries the persona's name (a name can be a real
   person's), describes an adult of the card's age, asks for "safe for work", and the negative
   prompt always holds :data:`NEGATIVE_SAFETY`, for every prompt :meth:`ImageGenerator.generate`
   runs, whoever wrote it.
3. A pipeline that ships a ``safety_checker`` keeps it (it is never switched off); an image it flags
   is never returned (:class:`ImageRejectedError`).

Time limit: diffusers calls ``callback_on_step_end`` after every denoising step; the callback checks
the clock and aborts the run past ``timeout_s`` (:class:`ImageTimeoutError`), so a slow machine
gives up after at most one step more rather than finishing an image nobody waits for. The same
callback stops a run whose :meth:`ImageGenerator.generate_async` caller was cancelled. The text
encoder before the first step and the VAE decode after the last cannot be interrupted.

Pipelines keep per-run state (the scheduler's timesteps), so runs take turns under a lock; the
time spent waiting for another image counts against the limit (the user is waiting too), the
one-off model load does not.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from common.errors import ModelMissingError
from tools.image_policy import INVISIBLE, RefusalReason, check_image_request, normalize

if TYPE_CHECKING:
    from personas.card import PersonaCard

os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = [
    "NEGATIVE_SAFETY",
    "GeneratedImage",
    "ImageError",
    "ImageGenerationError",
    "ImageGenerator",
    "ImageModelMissingError",
    "ImageRejectedError",
    "ImageTimeoutError",
    "build_prompt",
]

log = logging.getLogger(__name__)

# Always in the negative prompt, whoever wrote the positive one.
NEGATIVE_SAFETY: Final = "nsfw, nude, explicit, photo of a real person, celebrity, child"
_NEGATIVE_EXTRA: Final = "naked, sexual, teen, underage, lowres, blurry, deformed, text, watermark"
_STYLE: Final = "soft light, safe for work"
_MAX_MOMENT_CHARS: Final = 160  # CLIP reads 77 tokens; a long moment would push the style out
_MAX_CUES: Final = 5
_FIX: Final = (
    "Set DORA_IMAGE_MODEL to a local diffusers text-to-image pipeline folder (one with "
    "model_index.json, e.g. a Stable Diffusion 1.5 save_pretrained folder), or unset it to turn "
    "generated images off"
)


# --------------------------------------------------------------------------------------------
# Errors


class ImageError(Exception):
    """An image could not be made; subclasses say why, so the bot can answer each in character."""


class ImageModelMissingError(ImageError, ModelMissingError):
    """DORA_IMAGE_MODEL points at no folder, or at one that is not a loadable pipeline.

    A :class:`~common.errors.ModelMissingError`, so code that reports missing models in general
    (the CLI) handles it too.
    """


class ImageTimeoutError(ImageError, TimeoutError):
    """The image was not ready within ``timeout_s`` (or its caller stopped waiting)."""


class ImageGenerationError(ImageError, RuntimeError):
    """The pipeline failed in some other way (out of memory, a broken component, an odd model)."""


class ImageRejectedError(ImageError, ValueError):
    """The request or the image is not allowed; ``reason`` is "explicit", "real_person" or "minor".

    ``stage`` says who refused: "request" (:func:`check_image_request`, before anything ran) or
    "safety_checker" (the pipeline's own NSFW checker flagged the finished image).
    """

    def __init__(self, reason: RefusalReason, detail: str, *, stage: str = "request") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RefusalReason = reason
        self.detail = detail
        self.stage = stage


# --------------------------------------------------------------------------------------------
# The prompt

# Appearance cues from a card's description (Russian or English) → English prompt words. Only these
# fixed phrases ever reach the prompt, so nothing of the description leaks in (a name, a place).
# The first cue of a group wins ("messy ponytail" over "ponytail").
_CUES: Final[list[tuple[str, list[tuple[str, str]]]]] = [
    ("freckles", [(r"веснушк|freckle", "freckles")]),
    (
        "hairstyle",
        [
            (r"растрепанн\w* хвост|messy ponytail", "messy ponytail"),
            (r"\bхвост(?:ом|ик\w*)?\b|ponytail", "ponytail"),
            (r"\bкос(?:а|ой|у|ы|ичк\w*)\b|\bbraids?\b", "braid"),
            (r"\bкаре\b|\bbob\b", "bob haircut"),
        ],
    ),
    (
        "hair colour",
        [
            (r"рыжеволос|\bрыж\w* (?:волос|кудр|кос)|\b(?:red|ginger|auburn)[ -]hair", "red hair"),
            (r"блондин|\bblonde?\b", "blonde hair"),
            (r"брюнет|\b(?:dark|black)[ -]hair", "dark hair"),
            (r"шатен|\bbrown[ -]hair", "brown hair"),
            (r"\bрус(?:ые|ая|ыми) (?:волос|кос)\w*", "light brown hair"),
            (r"\bсвет\w* волос|\bfair[ -]hair|\blight[ -]hair", "light hair"),
            (r"\bседин\w*|\bсед(?:ой|ые|ая|ыми)\b|\b(?:grey|gray|silver)[ -]hair", "grey hair"),
            (r"\bлыс\w*|\bbald\b", "bald"),
        ],
    ),
    (
        "hair",
        [
            (r"кудр|кудряв|\bcurly\b", "curly hair"),
            (r"\bдлинн\w* волос|\blong[ -]hair", "long hair"),
            (r"\bкоротк\w* (?:стрижк|волос)|\bshort[ -]hair", "short hair"),
        ],
    ),
    (
        "eyes",
        [
            (r"голуб\w* глаз|голубоглаз|син\w* глаз|синеглаз|\bblue[ -]eye", "blue eyes"),
            (r"зелен\w* глаз|зеленоглаз|\bgreen[ -]eye", "green eyes"),
            (r"\bкари\w* глаз|кареглаз|\b(?:brown|hazel)[ -]eye", "brown eyes"),
            (r"\bсер(?:ые|ыми|ых|ый) глаз|сероглаз|\b(?:grey|gray)[ -]eye", "grey eyes"),
        ],
    ),
    ("glasses", [(r"\bочк(?:и|ах|ами|ов)\b|\bglasses\b|\bspectacles\b", "glasses")]),
    ("beard", [(r"\bбород\w*|\bbeard", "beard"), (r"\bщетин\w*|\bstubble\b", "stubble")]),
    ("mustache", [(r"\bусы\b|\bусами\b|\bmoustache|\bmustache", "mustache")]),
    (
        "smile",
        [
            (r"тепл\w* улыбк|\bwarm smile", "warm smile"),
            (r"улыбк|улыба|\bsmil", "smiling"),
        ],
    ),
    ("dimples", [(r"ямочк|\bdimples?\b", "dimples")]),
    ("tan", [(r"загорел|загар|\btanned\b", "tanned skin")]),
    ("tattoos", [(r"татуир|\bтату\b|\btattoo", "tattoos")]),
    ("piercing", [(r"пирсинг|\bpiercing", "piercing")]),
    ("build", [(r"спортивн\w* (?:фигур|телосложен)|подтянут|\bathletic\b", "athletic build")]),
    ("height", [(r"\bвысок\w* (?:рост|девушк|мужчин|парен)|\btall\b", "tall")]),
    ("shoes", [(r"серебрист\w* кед|\bsilver sneakers", "silver sneakers")]),
]
_CUE_PATTERNS: Final = [(group, [(re.compile(p), cue) for p, cue in options]) for group, options in _CUES]


def appearance_cues(description: str, limit: int = _MAX_CUES) -> list[str]:
    """English appearance words found in a card's description (at most ``limit``, in a fixed order)."""
    text = normalize(description)
    cues: list[str] = []
    for _group, options in _CUE_PATTERNS:
        for pattern, cue in options:
            if pattern.search(text):
                cues.append(cue)
                break
        if len(cues) >= limit:
            break
    return cues


def _subject(card: PersonaCard) -> str:
    noun = {"female": "woman", "male": "man"}.get(card.dora.gender or "", "person")
    age = card.age  # 18 or older when given: the card refuses anything else
    if age is None:  # a card from elsewhere that does not say: never draw anyone younger than an adult
        return f"an adult {noun}"
    article = "an" if age == 18 or str(age).startswith("8") else "a"
    return f"{article} {age}-year-old {noun}"


def _clean_moment(moment: str, name: str) -> str:
    """The moment on one line, the persona's name taken out, cut at a word near the length limit."""
    text = re.sub(r"\s+", " ", INVISIBLE.sub("", moment)).strip()
    # The whole name, then its parts ("Анна Мария" → "Анна"); parts of one or two letters are
    # words too often ("Ли" is also "ли") to cut out of a Russian sentence.
    for part in sorted({name, *(p for p in name.split() if len(p) > 2)}, key=len, reverse=True):
        if part.strip():
            text = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip(" ,.;:!?-—–")
    if len(text) > _MAX_MOMENT_CHARS:
        text = text[:_MAX_MOMENT_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:-—–")
    return text


def build_prompt(card: PersonaCard, moment: str, lang: str = "ru") -> tuple[str, str]:
    """(prompt, negative prompt) for a picture of the persona in ``moment``.

    The prompt is English (what the text encoder was trained on): the persona as an adult of the
    card's age and gender with appearance cues from its description, then the moment as given (a
    short Russian or English phrase; CLIP reads both well enough, and a translation step would cost
    an LLM call), then the style. The persona's name is never in it: names are how a model draws a
    real person. ``lang`` is the moment's language; the prompt does not depend on it.

    Runs :func:`check_image_request` on the moment first (the persona's name allowed) and raises
    :class:`ImageRejectedError` with its reason.
    """
    del lang  # the prompt is English whatever the user writes
    refusal = check_image_request(moment, allowed_names=(card.name,))
    if refusal is not None:
        raise ImageRejectedError(refusal.reason, f"the request mentions {refusal.match!r}")
    if card.minor_implied:  # a card from elsewhere whose text says the character is under 18
        raise ImageRejectedError("minor", "the persona's card implies a minor")
    parts = [f"illustration of {_subject(card)}", *appearance_cues(card.data.description)]
    if scene := _clean_moment(moment, card.name):
        parts.append(scene)
    parts.append(_STYLE)
    return ", ".join(parts), f"{NEGATIVE_SAFETY}, {_NEGATIVE_EXTRA}"


def _with_safety_negative(negative_prompt: str | None) -> str:
    negative = (negative_prompt or "").strip()
    if NEGATIVE_SAFETY in negative:
        return negative
    return f"{NEGATIVE_SAFETY}, {negative}" if negative else f"{NEGATIVE_SAFETY}, {_NEGATIVE_EXTRA}"


# --------------------------------------------------------------------------------------------
# The generator


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """A finished image as PNG bytes; ``seconds`` is the pipeline run (no load, no waiting)."""

    png_bytes: bytes
    width: int
    height: int
    seconds: float


class _Abort(Exception):
    """Raised inside the step callback to stop a run; carries why."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _from_pretrained_dtype_key() -> str:
    """``dtype`` on diffusers that has it (``torch_dtype`` is deprecated there), else ``torch_dtype``."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return "torch_dtype"
    return "dtype"


class ImageGenerator:
    """A diffusers text-to-image pipeline from a local folder: loaded once, on first use or :meth:`load`.

    Thread-safe: the load happens once under a lock, and runs take turns (a pipeline is not
    reentrant). ``device`` None picks CUDA when available, else the CPU.
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        size: int = 512,
        steps: int = 25,
        timeout_s: float = 120.0,
        device: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir).expanduser()
        if not self.model_dir.is_dir():
            raise ImageModelMissingError(
                f"DORA_IMAGE_MODEL is {str(self.model_dir)!r}, which does not exist or is not a folder. "
                f"{_FIX}."
            )
        if not (self.model_dir / "model_index.json").is_file():
            raise ImageModelMissingError(
                f"DORA_IMAGE_MODEL is {str(self.model_dir)!r}, which has no model_index.json: not a "
                f"diffusers pipeline folder. {_FIX}."
            )
        if size < 8 or size % 8:
            raise ValueError(f"image size must be a positive multiple of 8, got {size}")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.size = size
        self.steps = steps
        self.timeout_s = float(timeout_s)
        self.device = device
        self.pipeline: Any = None
        self.load_seconds: float | None = None
        self._call_params: frozenset[str] = frozenset()
        self._load_lock = threading.Lock()
        self._work_lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"loaded on {self.device}" if self.pipeline is not None else "not loaded"
        return f"ImageGenerator({str(self.model_dir)!r}, {self.size}px, {self.steps} steps, {state})"

    # -- loading -----------------------------------------------------------------------------------

    def load(self) -> Any:
        """The pipeline, loading it now if needed (call at start-up to fail early and answer faster)."""
        pipeline = self.pipeline
        if pipeline is not None:
            return pipeline
        with self._load_lock:
            if self.pipeline is None:
                self.pipeline = self._load()
            return self.pipeline

    def _load(self) -> Any:
        import torch

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_gpu = device.startswith("cuda")
        if not on_gpu:
            torch.set_num_threads(1)  # two cores shared with the LLM and the embedder
        dtype = torch.float16 if on_gpu else torch.float32
        start = time.perf_counter()
        try:
            pipeline = self._from_pretrained(dtype)
            pipeline = pipeline.to(device)
        except ImageModelMissingError:
            raise
        except Exception as exc:  # a corrupt file, a wrong layout, out of memory: nothing usable
            raise ImageModelMissingError(
                f"DORA_IMAGE_MODEL is {str(self.model_dir)!r}, which could not be loaded as a "
                f"text-to-image pipeline ({type(exc).__name__}: {exc}). {_FIX}."
            ) from exc
        if hasattr(pipeline, "set_progress_bar_config"):
            pipeline.set_progress_bar_config(disable=True)
        self._call_params = frozenset(inspect.signature(pipeline.__call__).parameters)
        if "prompt" not in self._call_params:
            raise ImageModelMissingError(
                f"DORA_IMAGE_MODEL is {str(self.model_dir)!r}, a {type(pipeline).__name__}, which does "
                f"not take a text prompt. {_FIX}."
            )
        self.device = device
        self.load_seconds = time.perf_counter() - start
        checker = getattr(pipeline, "safety_checker", None)
        log.info(
            "image model %s (%s) loaded on %s in %.2f s; safety checker: %s",
            self.model_dir,
            type(pipeline).__name__,
            device,
            self.load_seconds,
            type(checker).__name__ if checker is not None else "none",
        )
        return pipeline

    def _from_pretrained(self, dtype: Any) -> Any:
        """AutoPipelineForText2Image (it maps a folder to its text-to-image class), or the folder's own
        pipeline class for the families it does not know. Never passes ``safety_checker``: a
        pipeline that ships one keeps it."""
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        try:
            json.loads((self.model_dir / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ImageModelMissingError(
                f"DORA_IMAGE_MODEL is {str(self.model_dir)!r}, whose model_index.json cannot be read "
                f"({exc}). {_FIX}."
            ) from exc
        kwargs: dict[str, Any] = {"local_files_only": True, _from_pretrained_dtype_key(): dtype}
        try:
            return AutoPipelineForText2Image.from_pretrained(self.model_dir, **kwargs)
        except (ValueError, KeyError) as exc:
            log.info(
                "AutoPipelineForText2Image does not know %s (%s); using its own class", self.model_dir, exc
            )
            return DiffusionPipeline.from_pretrained(self.model_dir, **kwargs)

    # -- generating --------------------------------------------------------------------------------

    def generate(
        self, prompt: str, *, negative_prompt: str | None = None, seed: int | None = None
    ) -> GeneratedImage:
        """One image for ``prompt`` as PNG, ``size`` pixels on a side.

        ``negative_prompt`` always gets :data:`NEGATIVE_SAFETY` added; ``seed`` makes the image
        repeatable on the same machine. The prompt is checked with :func:`check_image_request` too
        (whoever wrote it). Raises :class:`ImageRejectedError`, :class:`ImageTimeoutError`,
        :class:`ImageGenerationError`, or :class:`ImageModelMissingError` (first use only).
        """
        return self._generate(prompt, negative_prompt, seed, None)

    async def generate_async(
        self, prompt: str, *, negative_prompt: str | None = None, seed: int | None = None
    ) -> GeneratedImage:
        """:meth:`generate` in a worker thread, so the event loop keeps serving other chats.

        Cancelling the awaiting task stops the run at its next step (the thread cannot be killed,
        but it stops using the CPU or GPU within one step).
        """
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._generate, prompt, negative_prompt, seed, cancel)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _generate(
        self, prompt: str, negative_prompt: str | None, seed: int | None, cancel: threading.Event | None
    ) -> GeneratedImage:
        prompt = prompt.strip()
        if not prompt:
            raise ValueError("the prompt is empty")
        refusal = check_image_request(prompt)
        if refusal is not None:
            raise ImageRejectedError(refusal.reason, f"the prompt mentions {refusal.match!r}")
        negative = _with_safety_negative(negative_prompt)
        pipeline = self.load()
        deadline = time.monotonic() + self.timeout_s  # the load is a one-off and does not count
        if not self._work_lock.acquire(timeout=self.timeout_s):
            raise ImageTimeoutError(f"waited {self.timeout_s:g} s for another image to finish")
        try:
            if cancel is not None and cancel.is_set():
                raise ImageTimeoutError("cancelled before it started")
            if time.monotonic() >= deadline:
                raise ImageTimeoutError(
                    f"no time left after waiting for another image ({self.timeout_s:g} s)"
                )
            return self._run(pipeline, prompt, negative, seed, deadline, cancel)
        finally:
            self._work_lock.release()

    def _run(
        self,
        pipeline: Any,
        prompt: str,
        negative: str,
        seed: int | None,
        deadline: float,
        cancel: threading.Event | None,
    ) -> GeneratedImage:
        import torch

        timeout_s = self.timeout_s

        def on_step_end(
            _pipe: Any, step: int, _timestep: Any, callback_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            if cancel is not None and cancel.is_set():
                raise _Abort(f"cancelled after step {step + 1}")
            if time.monotonic() > deadline:
                raise _Abort(f"past {timeout_s:g} s after step {step + 1} of {self.steps}")
            return callback_kwargs

        kwargs: dict[str, Any] = {
            "prompt": prompt,
            "height": self.size,
            "width": self.size,
            "num_inference_steps": self.steps,
            "output_type": "pil",
        }
        if "negative_prompt" in self._call_params:
            kwargs["negative_prompt"] = negative
        if "callback_on_step_end" in self._call_params:
            kwargs["callback_on_step_end"] = on_step_end
        if seed is not None:
            kwargs["generator"] = torch.Generator(device=self.device or "cpu").manual_seed(seed)
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                out = pipeline(**kwargs)
        except _Abort as exc:
            raise ImageTimeoutError(f"image generation stopped: {exc.why}") from None
        except Exception as exc:  # anything the pipeline raises is a failed image, not a crash
            if self.device and self.device.startswith("cuda"):
                torch.cuda.empty_cache()  # after an out-of-memory error the next image may fit
            raise ImageGenerationError(f"the image pipeline failed ({type(exc).__name__}: {exc})") from exc
        seconds = time.perf_counter() - start
        flags = getattr(out, "nsfw_content_detected", None)
        if flags is not None and any(bool(f) for f in flags):
            raise ImageRejectedError(
                "explicit", "the safety checker flagged the image", stage="safety_checker"
            )
        images = getattr(out, "images", None)
        if not images:
            raise ImageGenerationError("the image pipeline returned no image")
        image = images[0]
        buffer = io.BytesIO()
        try:
            image.save(buffer, format="PNG")
        except Exception as exc:
            raise ImageGenerationError(f"the image could not be encoded as PNG ({exc})") from exc
        width, height = image.size
        return GeneratedImage(png_bytes=buffer.getvalue(), width=width, height=height, seconds=seconds)

    # -- prompts -----------------------------------------------------------------------------------

    def build_prompt(self, card: PersonaCard, moment: str, lang: str = "ru") -> tuple[str, str]:
        """See :func:`build_prompt`; here so callers holding a generator need nothing else."""
        return build_prompt(card, moment, lang)
