"""Voice, photos and generated images from :class:`Settings`. Each checks its model's folder when
built (a clear error naming the setting) and loads the model itself on first use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.photo_choice import PhotoTools
from common.errors import ModelMissingError
from dora.config import Settings
from dora.model_fetch import MODELS, require_model
from memory.embeddings import VectorEmbeddings

if TYPE_CHECKING:
    from tools.imagegen import ImageGenerator
    from tools.speech import Transcriber


def build_transcriber(settings: Settings) -> Transcriber:
    """The transcriber ``settings.whisper_model`` names: a fetched model's name, or a model folder.

    Checks the folder now (a :class:`~tools.speech.SpeechModelMissingError`, naming the fix); the
    model itself loads on first use or :meth:`Transcriber.load`.
    """
    from tools.speech import DEFAULT_WHISPER_MODEL, MODEL_HINT, SpeechModelMissingError, Transcriber

    value = settings.whisper_model.strip()
    if value in MODELS:
        if not any(Path(f.path).name == "model.bin" for f in MODELS[value].files):
            raise SpeechModelMissingError(
                f"DORA_WHISPER_MODEL is {value!r}, which is not a speech model. {MODEL_HINT}."
            )
        try:
            folder = require_model(settings, value)
        except ModelMissingError as exc:
            raise SpeechModelMissingError(
                f"{exc} Or set DORA_WHISPER_MODEL to a faster-whisper (CTranslate2) model folder."
            ) from None
    else:
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise SpeechModelMissingError(
                f"DORA_WHISPER_MODEL is {value!r}: neither a model DORA fetches "
                f"({DEFAULT_WHISPER_MODEL}) nor an existing folder. {MODEL_HINT}."
            )
    return Transcriber(folder, max_seconds=settings.voice_max_seconds)


def build_generator(settings: Settings) -> ImageGenerator | None:
    """The generator ``settings.image_model`` names, or ``None`` when it is unset (images off).

    Checks the folder now (an :class:`~tools.imagegen.ImageModelMissingError` naming
    DORA_IMAGE_MODEL); the pipeline itself loads on first use or :meth:`ImageGenerator.load`.
    """
    folder = settings.image_model
    if folder is None or not str(folder).strip():
        return None
    from tools.imagegen import ImageGenerator  # diffusers and torch load only when a model is set

    return ImageGenerator(
        folder,
        size=settings.image_size,
        steps=settings.image_steps,
        timeout_s=settings.image_timeout_s,
    )


def build_photo_tools(settings: Settings, embeddings: VectorEmbeddings) -> PhotoTools:
    """The photo selector on memory's embedder, and the generator when DORA_IMAGE_MODEL is set."""
    from tools.photos import PhotoSelector

    return PhotoTools(
        selector=PhotoSelector(embeddings, min_score=settings.photo_min_score),
        generator=build_generator(settings),
    )
