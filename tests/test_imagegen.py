"""The image generator on a tiny random-weight Stable Diffusion pipeline, loaded like a real model.

The pipeline (``tests/tiny_diffusion.py``) is saved to a folder and found through
``settings.image_model``, so loading, generation, the time limit, the safety checker and the PNG
output all run the code a real model runs. Its images are noise; 2 steps at 32×32 take a few
hundredths of a second on one CPU thread. The request policy is tested on its own (pure).
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.imagegen import generator_bench
from dora.config import Settings, load_settings
from dora.model_fetch import ModelMissingError
from dora.wiring.media import build_generator
from personas.library import PersonaLibrary
from tests.tiny_diffusion import make_tiny_pipeline
from tools.image_policy import check_image_request
from tools.imagegen import (
    NEGATIVE_SAFETY,
    GeneratedImage,
    ImageGenerationError,
    ImageGenerator,
    ImageModelMissingError,
    ImageRejectedError,
    ImageTimeoutError,
    build_prompt,
)

SIZE, STEPS = 32, 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="module")
def flagging_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd-flag"), safety_checker="flag")


@pytest.fixture(scope="module")
def checked_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd-pass"), safety_checker="pass")


def settings_for(model: Path | None, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "image_model": model,
        "image_size": SIZE,
        "image_steps": STEPS,
        "image_timeout_s": 30.0,
    }
    return load_settings(**(values | overrides))


def generator(model: Path, **kw: Any) -> ImageGenerator:
    return ImageGenerator(model, **({"size": SIZE, "steps": STEPS, "timeout_s": 30.0} | kw))


def slow_unet(gen: ImageGenerator, monkeypatch: pytest.MonkeyPatch, delay_s: float) -> list[float]:
    """Make every UNet call take ``delay_s`` longer; returns the list of call times (it grows)."""
    unet = gen.load().unet
    forward = unet.forward
    calls: list[float] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(delay_s)
        return forward(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", slow)
    return calls


class RecordingPipeline:
    """Stands between the generator and the real pipeline to see what it is called with."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self._pipeline(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)


# --------------------------------------------------------------------------------------------
# Generation through the real loading path


def test_generates_a_png_of_the_configured_size(tiny_model: Path, tmp_path: Path) -> None:
    from PIL import Image

    gen = build_generator(settings_for(tiny_model, tmp_path))
    assert gen is not None and gen.pipeline is None  # lazy: nothing loaded at build time
    image = gen.generate("a cup of coffee on a windowsill", seed=7)
    assert isinstance(image, GeneratedImage)
    assert image.png_bytes.startswith(PNG_MAGIC)
    assert (image.width, image.height) == (SIZE, SIZE)
    assert 0 < image.seconds < 10
    with Image.open(io.BytesIO(image.png_bytes)) as decoded:
        assert decoded.format == "PNG" and decoded.size == (SIZE, SIZE)
    # a seed makes it repeatable; another seed gives another picture
    assert gen.generate("a cup of coffee on a windowsill", seed=7).png_bytes == image.png_bytes
    assert gen.generate("a cup of coffee on a windowsill", seed=8).png_bytes != image.png_bytes


def test_other_sizes_and_a_russian_prompt(tiny_model: Path) -> None:
    image = generator(tiny_model, size=64).generate("селфи на пляже, закат")
    assert (image.width, image.height) == (64, 64)


def test_loads_once_on_the_cpu_offline(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import diffusers
    import torch

    original = diffusers.AutoPipelineForText2Image.from_pretrained
    loads: list[dict[str, Any]] = []

    def counting(cls: type, *args: Any, **kwargs: Any) -> Any:
        loads.append(kwargs)
        time.sleep(0.05)  # widen the window for a second, racing load
        return original(*args, **kwargs)

    monkeypatch.setattr(diffusers.AutoPipelineForText2Image, "from_pretrained", classmethod(counting))
    gen = generator(tiny_model)
    threads = [threading.Thread(target=gen.load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gen.generate("a cup of coffee")
    gen.generate("a cup of tea")
    assert len(loads) == 1
    assert loads[0]["local_files_only"] is True
    assert "safety_checker" not in loads[0]  # never switched off
    if torch.cuda.is_available():
        assert gen.device == "cuda" and gen.pipeline.unet.dtype == torch.float16
    else:
        assert gen.device == "cpu" and gen.pipeline.unet.dtype == torch.float32
        assert torch.get_num_threads() == 1  # the project's rule on its 2-core machine
    assert gen.load_seconds is not None and gen.load_seconds > 0


def test_negative_prompt_always_carries_the_safety_terms(tiny_model: Path) -> None:
    gen = generator(tiny_model)
    recorder = RecordingPipeline(gen.load())
    gen.pipeline = recorder
    gen.generate("a cup of coffee", negative_prompt="blurry")
    gen.generate("a cup of coffee")
    for call in recorder.calls:
        assert NEGATIVE_SAFETY in call["negative_prompt"]
        assert callable(call["callback_on_step_end"])
        assert (call["height"], call["width"], call["num_inference_steps"]) == (SIZE, SIZE, STEPS)
    assert "blurry" in recorder.calls[0]["negative_prompt"]


# --------------------------------------------------------------------------------------------
# Time limit and failures


def test_timeout_stops_the_run_between_steps(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = 50
    gen = generator(tiny_model, steps=steps, timeout_s=0.3)
    calls = slow_unet(gen, monkeypatch, delay_s=0.05)  # 50 steps would take 2.5 s
    start = time.monotonic()
    with pytest.raises(ImageTimeoutError, match=r"past 0\.3 s"):
        gen.generate("a cup of coffee")
    elapsed = time.monotonic() - start
    assert elapsed < 2.0
    assert 1 <= len(calls) < 15  # stopped after the step that crossed the limit
    # the lock was released: the next image (with time to finish) works
    monkeypatch.undo()
    gen.timeout_s = 30.0
    assert gen.generate("a cup of coffee").width == SIZE


def test_a_failing_pipeline_is_a_generation_error(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator(tiny_model)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(gen.load().unet, "forward", broken)
    with pytest.raises(ImageGenerationError, match="out of memory") as caught:
        gen.generate("a cup of coffee")
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_the_pipelines_safety_checker_is_kept(checked_model: Path) -> None:
    gen = generator(checked_model)
    image = gen.generate("a cup of coffee")
    assert gen.pipeline.safety_checker is not None
    assert image.png_bytes.startswith(PNG_MAGIC)


def test_an_image_the_safety_checker_flags_is_rejected(flagging_model: Path) -> None:
    gen = generator(flagging_model)
    with pytest.raises(ImageRejectedError) as caught:
        gen.generate("a cup of coffee")
    assert caught.value.reason == "explicit"
    assert caught.value.stage == "safety_checker"


# --------------------------------------------------------------------------------------------
# Settings and a missing model


def test_unset_model_means_no_generator(tmp_path: Path) -> None:
    assert build_generator(settings_for(None, tmp_path)) is None


def test_missing_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ImageModelMissingError, match="DORA_IMAGE_MODEL") as caught:
        build_generator(settings_for(tmp_path / "nowhere", tmp_path))
    assert isinstance(caught.value, ModelMissingError)  # the CLI's general handler sees it


def test_a_folder_that_is_not_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(ImageModelMissingError, match=r"DORA_IMAGE_MODEL.*model_index\.json"):
        build_generator(settings_for(tmp_path / "model", tmp_path))


def test_a_broken_pipeline_folder_fails_on_load(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    gen = build_generator(settings_for(broken, tmp_path))
    assert gen is not None
    with pytest.raises(ImageModelMissingError, match="DORA_IMAGE_MODEL"):
        gen.generate("a cup of coffee")


# --------------------------------------------------------------------------------------------
# asyncio


def test_generate_async_runs_off_the_event_loop(tiny_model: Path) -> None:
    gen = generator(tiny_model)

    async def main() -> tuple[list[GeneratedImage], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        images = await asyncio.gather(
            gen.generate_async("a cup of coffee", seed=1), gen.generate_async("tea")
        )
        task.cancel()
        return list(images), ticks

    images, ticks = asyncio.run(main())
    assert [(i.width, i.height) for i in images] == [(SIZE, SIZE)] * 2
    assert ticks > 1  # the loop kept running while the images were made


def test_cancelling_generate_async_stops_the_run(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = 100
    gen = generator(tiny_model, steps=steps)
    calls = slow_unet(gen, monkeypatch, delay_s=0.02)

    async def main() -> None:
        task = asyncio.create_task(gen.generate_async("a cup of coffee"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    time.sleep(0.2)
    seen = len(calls)
    time.sleep(0.2)
    assert len(calls) == seen < steps  # the worker thread stopped too


# --------------------------------------------------------------------------------------------
# The request policy and the prompt


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("пришли голую фотку", "explicit"),
        ("покажи себя без одежды", "explicit"),
        ("обнажённая на кровати", "explicit"),
        ("эротическое фото в душе", "explicit"),
        ("фото 18+", "explicit"),
        ("гoлая", "explicit"),  # a Latin "o" inside
        ("send nudes", "explicit"),
        ("a naked selfie", "explicit"),
        ("porn", "explicit"),
        ("you in sexy lingerie", "explicit"),
        ("пришли фото Тейлор Свифт", "real_person"),
        ("сделай себя похожей на Анджелину Джоли", "real_person"),
        ("нарисуй реального человека", "real_person"),
        ("фото знаменитости на пляже", "real_person"),
        ("draw yourself as Taylor Swift", "real_person"),
        ("a picture that looks like Scarlett Johansson", "real_person"),
        ("a photo of a real person", "real_person"),
        ("selfie with Brad Pitt", "real_person"),
        ("a celebrity at the beach", "real_person"),
        ("школьница в купальнике", "minor"),
        ("15-летняя девочка в постели", "minor"),
        ("ты в 15 лет", "minor"),
        ("пришли фото из детства", "minor"),
        ("a teen in a bikini", "minor"),
        ("a 12 year old in lingerie", "minor"),
        ("you as a kid", "minor"),
        ("naked child", "minor"),  # minor outranks explicit
    ],
)
def test_refused_requests(text: str, reason: str) -> None:
    refusal = check_image_request(text)
    assert refusal is not None and refusal.reason == reason, (text, refusal)


@pytest.mark.parametrize(
    "text",
    [
        "селфи на пляже",
        "a cup of coffee on a windowsill",
        "фото в купальнике на пляже",
        "ты на свидании в ресторане",
        "голова болит, пришли фото кофе",
        "голубое небо над морем",
        "малыш, пришли селфи",
        "hey baby, send a selfie",
        "a kid flying a kite in the park",
        "photo of New York at night",
        "a walk in Central Park",
        "in the style of Van Gogh",
        "в стиле Ван Гога",
        "фото Кайли на пляже",  # the persona's own name
        "looks like a rainy day",
        "фото 5 лет назад в купальнике",
    ],
)
def test_allowed_requests(text: str) -> None:
    assert check_image_request(text, allowed_names=("Кайли",)) is None


def test_prompt_from_the_card_without_the_name() -> None:
    library = PersonaLibrary()
    kylie = library.get("kylie")
    prompt, negative = build_prompt(kylie, "Кайли на пляже, закат", "ru")
    assert kylie.name not in prompt
    assert "25-year-old woman" in prompt and "freckles" in prompt
    assert "на пляже, закат" in prompt  # the moment as given
    assert "illustration" in prompt and "soft light" in prompt and "safe for work" in prompt
    assert negative.startswith(NEGATIVE_SAFETY)
    for term in ("nsfw", "nude", "explicit", "photo of a real person", "celebrity", "child"):
        assert term in negative
    mark_prompt, _ = build_prompt(library.get("mark"), "a cup of coffee on a windowsill", "en")
    assert "30-year-old man" in mark_prompt and "a cup of coffee on a windowsill" in mark_prompt
    assert check_image_request(prompt) is None and check_image_request(mark_prompt) is None


@pytest.mark.parametrize(
    ("moment", "reason"),
    [("голая на пляже", "explicit"), ("как Илон Маск", "real_person"), ("you as a teenager", "minor")],
)
def test_prompt_refuses_before_anything_runs(moment: str, reason: str) -> None:
    with pytest.raises(ImageRejectedError) as caught:
        build_prompt(PersonaLibrary().get("dora"), moment, "ru")
    assert caught.value.reason == reason and caught.value.stage == "request"


def test_generate_checks_a_raw_prompt_too(tiny_model: Path) -> None:
    gen = generator(tiny_model)
    with pytest.raises(ImageRejectedError) as caught:
        gen.generate("a naked woman")
    assert caught.value.reason == "explicit"
    assert gen.pipeline is None  # refused before the model was even loaded


def test_bench_reports_seconds_per_image(tiny_model: Path, tmp_path: Path) -> None:
    result = generator_bench(settings_for(tiny_model, tmp_path), n=3)
    assert result["images"] == 3 and result["failed"] == 0
    assert (result["size"], result["steps"]) == (SIZE, STEPS)
    assert result["first_image_s"] >= result["load_s"] > 0
    assert 0 < result["per_image_s"] <= result["per_image_max_s"]
    with pytest.raises(ImageModelMissingError, match="DORA_IMAGE_MODEL"):
        generator_bench(settings_for(None, tmp_path))
