"""``dora bench tools`` (generator part): seconds per image for the configured DORA_IMAGE_MODEL.

What a user waits for is the figure that matters: on two CPU cores one 512×512 SD 1.5 image in 25
steps takes minutes, on a GPU seconds, and that decides whether ``DORA_IMAGE_TIMEOUT_S`` and
``DORA_IMAGE_STEPS`` suit the machine. The first image pays for loading the pipeline (and the first
run's warm-up), so it is reported on its own; the rest give the steady figure. Images are made with
the bot's own settings (size, steps, time limit), so a timeout here is a timeout there too, and is
counted rather than hidden.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from dora.wiring.media import build_generator
from tools.imagegen import ImageError, ImageModelMissingError

if TYPE_CHECKING:
    from dora.config import Settings

# Ordinary moments of the kind the bot draws, already in prompt form (build_prompt's shape).
_STYLE = "soft light, safe for work"
PROMPTS = [
    f"illustration of a 27-year-old woman, a cup of coffee on a windowsill, {_STYLE}",
    f"illustration of a 25-year-old woman, freckles, messy ponytail, селфи на пляже, {_STYLE}",
    f"illustration of a 30-year-old man, warm smile, playing guitar in the evening, {_STYLE}",
    f"illustration of a 26-year-old woman, silver sneakers, backstage before a concert, {_STYLE}",
]


def generator_bench(settings: Settings, n: int = 3) -> dict[str, Any]:
    """Load the configured generator and make ``n`` images; timings in seconds.

    Keys: ``model``, ``device``, ``size``, ``steps``, ``images`` (made), ``failed`` (timeouts and
    errors, with ``last_error``), ``load_s`` (the pipeline load alone), ``first_image_s`` (wall
    time of the first image including the load: a cold start), ``per_image_s`` (median run time
    of the images after the first; the first's own run when ``n`` is 1), ``per_image_max_s``,
    ``per_step_s``. Raises :class:`~tools.imagegen.ImageModelMissingError` when DORA_IMAGE_MODEL is
    unset or unusable.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    generator = build_generator(settings)
    if generator is None:
        raise ImageModelMissingError("DORA_IMAGE_MODEL is not set: there is no image model to measure.")
    runs: list[float] = []
    failed = 0
    last_error = ""
    first_image_s: float | None = None
    start = time.perf_counter()
    for i in range(n):
        try:
            image = generator.generate(PROMPTS[i % len(PROMPTS)], seed=i)
        except ImageModelMissingError:
            raise
        except ImageError as exc:
            failed += 1
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        finally:
            if i == 0:
                first_image_s = time.perf_counter() - start
        runs.append(image.seconds)
    steady = runs[1:] if len(runs) > 1 else runs
    result: dict[str, Any] = {
        "model": str(generator.model_dir),
        "device": generator.device,
        "size": generator.size,
        "steps": generator.steps,
        "images": len(runs),
        "failed": failed,
        "load_s": generator.load_seconds,
        "first_image_s": first_image_s,
        "per_image_s": statistics.median(steady) if steady else None,
        "per_image_max_s": max(steady) if steady else None,
        "per_step_s": statistics.median(steady) / generator.steps if steady else None,
    }
    if last_error:
        result["last_error"] = last_error
    return result
