"""Speech to text for voice notes: faster-whisper (CTranslate2) on the CPU, loaded once, offline.

Telegram voice notes are OGG/Opus, mono, 48 kHz. They are decoded in memory with PyAV (through
``faster_whisper.decode_audio``), so no ffmpeg binary is needed at run time. The bot shares two
cores with the LLM, so the model runs on one thread (``cpu_threads=1``, ``num_workers=1``) and one
transcription at a time per :class:`Transcriber`; :meth:`Transcriber.transcribe_async` moves the
work to a thread so the event loop keeps answering others meanwhile.

Every way a voice note can fail is its own exception, all under :class:`SpeechError`, so the bot can
answer each one in character: :class:`AudioUndecodableError` (not audio, empty or damaged bytes),
:class:`AudioTooLongError` (over the limit; found from the container before anything is decoded,
so a two-hour file costs milliseconds), :class:`AudioEmptyError` (no audio, or no speech in it) and
:class:`SpeechModelMissingError` (the model is not fetched; the message names the fix).

Decoding choices, measured on this project's 2-core machine with whisper-base int8 on one thread:
a clip shorter than Whisper's 30-second window costs about one encoder pass (~1 s) whatever the
beam, so beam search (5) costs the same as greedy decoding there, while greedy output on unclear
Russian often falls back to sampling at higher temperatures and then costs 3-4 times more. Hence the
faster-whisper default ``beam_size=5``; ``condition_on_previous_text=False`` keeps one bad window
from repeating itself into the next.

Each :class:`Transcript` says how sure Whisper was (its segments' log-probabilities, no-speech
probability and compression ratio, and an ``unsure`` verdict, see :func:`judge`): the bot still
answers an unsure voice note, but shows the user what it heard and learns no facts from it.

Nothing here downloads anything: the model is a local folder (``dora models fetch whisper-base``,
or ``DORA_WHISPER_MODEL`` pointing at a CTranslate2 Whisper folder) and the VAD model ships inside
the ``faster-whisper`` package.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import ModelMissingError

if TYPE_CHECKING:
    import numpy as np
    from faster_whisper import WhisperModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_WHISPER_MODEL",
    "MODEL_HINT",
    "SAMPLE_RATE",
    "UNSURE_COMPRESSION",
    "UNSURE_LOGPROB",
    "UNSURE_NO_SPEECH",
    "AudioEmptyError",
    "AudioTooLongError",
    "AudioUndecodableError",
    "SpeechError",
    "SpeechModelMissingError",
    "Transcriber",
    "Transcript",
    "judge",
]

log = logging.getLogger(__name__)

DEFAULT_WHISPER_MODEL = "whisper-base"
DEFAULT_MAX_SECONDS = 120.0  # the default of DORA_VOICE_MAX_SECONDS
SAMPLE_RATE = 16_000  # what Whisper listens at; decode_audio resamples to it
# The container's duration and the decoded length may differ by codec delay and padding; a decoded
# length past the limit by more than this means the container lied about its duration.
_DURATION_SLACK_S = 1.0
# Below this a container's own duration is "no audio", not "audio that failed to decode".
_EMPTY_CONTAINER_S = 0.1
# The files a faster-whisper folder must have; without tokenizer.json faster-whisper would fetch a
# tokenizer from the Hugging Face hub, which DORA never does at run time.
_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
MODEL_HINT = (
    f"Run `dora models fetch {DEFAULT_WHISPER_MODEL}`, or set DORA_WHISPER_MODEL to a faster-whisper "
    "(CTranslate2) model folder"
)


# --------------------------------------------------------------------------------------------
# Errors


class SpeechError(Exception):
    """A voice note could not be turned into text; subclasses say why, for a friendly answer."""


class AudioUndecodableError(SpeechError, ValueError):
    """The bytes are not audio we can decode: empty, damaged, or another kind of file."""


class AudioTooLongError(SpeechError, ValueError):
    """The recording is longer than the limit; found before decoding, so it costs nothing."""

    def __init__(self, duration_s: float, max_seconds: float) -> None:
        super().__init__(f"the recording is {duration_s:.1f} s long; the limit is {max_seconds:g} s")
        self.duration_s = duration_s
        self.max_seconds = max_seconds


class AudioEmptyError(SpeechError, ValueError):
    """The recording has no audio (0 seconds) or no speech in it (silence, noise)."""


class SpeechModelMissingError(SpeechError, ModelMissingError):
    """The speech model is not on disk or can't be loaded; the message names the fix.

    A :class:`~common.errors.ModelMissingError`, so code that reports missing models in
    general (the CLI) handles it too.
    """


# --------------------------------------------------------------------------------------------
# Result


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said: the text, the language it was decoded as, and the recording's length; and how
    sure Whisper was of it (see :func:`judge`): ``avg_logprob`` (the segments' mean token
    log-probability, weighted by their token counts), the highest ``no_speech_prob`` and
    ``compression_ratio`` of a segment, and ``unsure``, the verdict."""

    text: str
    language: str
    duration_s: float
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    unsure: bool = False


# What makes a transcription unsure, measured on 92 voice notes synthesised with espeak-ng (clear
# Russian and English, white noise at +10 to -10 dB, too quiet, too fast, two voices at once,
# gibberish), transcribed by whisper-base (int8, one thread, beam 5) as the bot does; the README has
# the figures (`Voice notes: what was heard`). Right transcriptions (character error rate <= 0.15)
# scored a token-weighted mean log-probability of -0.36 to -0.57, bar two (-0.76, -1.01); misheard
# ones -0.62 or worse, bar one (-0.44, one word wrong), and espeak's misheard Russian, the issue's
# case, -0.75 to -1.09. At -0.65: 15 of 17 right ones pass, 68 of 70 misheard ones are caught. A
# segment Whisper itself finds more likely silence than speech (its own no-speech threshold), or
# whose text repeats itself (compression over 2.4, Whisper's hallucination mark), is unsure whatever
# its log-probability.
UNSURE_LOGPROB = -0.65
UNSURE_NO_SPEECH = 0.6
UNSURE_COMPRESSION = 2.4


def judge(avg_logprob: float, no_speech_prob: float, compression_ratio: float) -> bool:
    """Whether a transcription is too unsure to learn facts from (True: unsure)."""
    return (
        avg_logprob < UNSURE_LOGPROB
        or no_speech_prob > UNSURE_NO_SPEECH
        or compression_ratio > UNSURE_COMPRESSION
    )


# --------------------------------------------------------------------------------------------
# Audio


def _as_bytes(audio: bytes | bytearray | memoryview | Path) -> bytes:
    if isinstance(audio, Path):
        return audio.read_bytes()  # a missing file is the caller's bug: FileNotFoundError
    if isinstance(audio, bytes | bytearray | memoryview):
        return bytes(audio)
    raise TypeError(f"audio must be bytes or a Path, not {type(audio).__name__}")


def _ogg_has_only_headers(data: bytes) -> bool:
    """Whether ``data`` is a well-formed Ogg/Opus stream whose packets are all headers.

    That is a recording of zero length (what an encoder writes when given no samples); FFmpeg
    refuses to open it, which would otherwise read as a damaged file.
    """
    headers = 0
    head = b""  # the first bytes of the packet being read: enough to tell a header
    open_packet = False
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS" or pos + 27 > len(data):
            return False
        nsegs = data[pos + 26]
        table = data[pos + 27 : pos + 27 + nsegs]
        body = pos + 27 + nsegs
        if len(table) != nsegs or body + sum(table) > len(data):
            return False
        for lacing in table:
            if len(head) < 8:
                head += data[body : body + min(lacing, 8 - len(head))]
            body += lacing
            open_packet = lacing == 255  # a packet ends at a lacing value under 255
            if not open_packet:
                if head[:8] not in (b"OpusHead", b"OpusTags"):
                    return False  # an audio packet
                headers += 1
                head = b""
        pos = body
    return headers > 0 and not open_packet


def _probe_duration(data: bytes, max_seconds: float) -> float:
    """The recording's length in seconds, from the container (no decoding).

    When the container does not say, packets are demuxed (still no decoding) until their
    durations pass ``max_seconds``: enough to refuse a long file without reading all of it.
    """
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioUndecodableError("the file has no audio stream")
            stream = container.streams.audio[0]
            if container.duration is not None and container.duration > 0:
                return container.duration / av.time_base
            if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
                return float(stream.duration * stream.time_base)
            total = 0.0
            for packet in container.demux(stream):
                if packet.duration and packet.time_base is not None:
                    total += float(packet.duration * packet.time_base)
                    if total > max_seconds:
                        break
            return total
    except av.FFmpegError as exc:
        if _ogg_has_only_headers(data):
            raise AudioEmptyError("the recording has no audio (0 seconds)") from None
        raise AudioUndecodableError(f"not a recording we can read ({exc.strerror or exc})") from None


def _decode(data: bytes) -> np.ndarray:
    """Mono float32 samples at 16 kHz."""
    import av
    from faster_whisper import decode_audio

    try:
        return decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except av.FFmpegError as exc:
        raise AudioUndecodableError(f"the recording could not be decoded ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------------------------
# The transcriber


class Transcriber:
    """faster-whisper on the CPU: the model is loaded once, on first use (or :meth:`load`).

    Thread-safe: loading happens once under a lock, and transcriptions run one at a time, so a
    burst of voice notes never takes more than one core from the rest of the bot.
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        cpu_threads: int = 1,
        beam_size: int = 5,
        compute_type: str = "int8",
    ) -> None:
        self.model_dir = Path(model_dir).expanduser()
        missing = [name for name in _REQUIRED_FILES if not (self.model_dir / name).is_file()]
        if missing:
            what = "does not exist" if not self.model_dir.exists() else f"lacks {', '.join(missing)}"
            raise SpeechModelMissingError(f"The speech model folder {self.model_dir} {what}. {MODEL_HINT}.")
        self.max_seconds = float(max_seconds)
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.compute_type = compute_type
        self.model: WhisperModel | None = None
        self.load_seconds: float | None = None
        self._load_lock = threading.Lock()
        self._work_lock = threading.Lock()

    def __repr__(self) -> str:
        state = "loaded" if self.model is not None else "not loaded"
        return f"Transcriber({str(self.model_dir)!r}, {state})"

    def load(self) -> WhisperModel:
        """The model, loading it now if needed (call at start-up to fail early and answer faster)."""
        model = self.model
        if model is not None:
            return model
        with self._load_lock:
            if self.model is None:
                self.model = self._load()
            return self.model

    def _load(self) -> WhisperModel:
        from faster_whisper import WhisperModel

        start = time.perf_counter()
        try:
            model = WhisperModel(
                str(self.model_dir),
                device="cpu",
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                num_workers=1,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise SpeechModelMissingError(
                f"The speech model in {self.model_dir} could not be loaded ({exc}). {MODEL_HINT}."
            ) from exc
        self.load_seconds = time.perf_counter() - start
        log.info("speech model %s loaded in %.2f s", self.model_dir, self.load_seconds)
        return model

    def transcribe(
        self,
        audio: bytes | Path,
        language: str | None = "ru",
        *,
        max_seconds: float | None = None,
    ) -> Transcript:
        """The text spoken in ``audio`` (OGG/Opus or anything FFmpeg reads), in ``language``.

        ``language=None`` detects it. ``max_seconds`` defaults to the transcriber's limit.
        Raises :class:`AudioUndecodableError`, :class:`AudioTooLongError`, :class:`AudioEmptyError`
        or :class:`SpeechModelMissingError`.
        """
        limit = self.max_seconds if max_seconds is None else float(max_seconds)
        data = _as_bytes(audio)
        if not data:
            raise AudioUndecodableError("the recording is empty (0 bytes)")
        # Before taking the lock: refusing a long file must not wait for someone else's note.
        declared = _probe_duration(data, limit)
        if declared > limit:
            raise AudioTooLongError(declared, limit)
        with self._work_lock:
            return self._transcribe_locked(data, language, limit, declared)

    def _transcribe_locked(
        self, data: bytes, language: str | None, limit: float, declared: float
    ) -> Transcript:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        samples = _decode(data)
        duration = len(samples) / SAMPLE_RATE
        if duration > limit + _DURATION_SLACK_S:
            raise AudioTooLongError(duration, limit)
        if len(samples) == 0:
            if declared > _EMPTY_CONTAINER_S:
                raise AudioUndecodableError("the recording's audio could not be decoded")
            raise AudioEmptyError("the recording has no audio (0 seconds)")
        vad = VadOptions()
        # The VAD is cheap (~2 ms a second of audio); running it first means silence never
        # loads or runs Whisper, which would otherwise invent a sentence for it.
        if not get_speech_timestamps(samples, vad, sampling_rate=SAMPLE_RATE):
            raise AudioEmptyError(f"no speech in the recording ({duration:.1f} s of silence or noise)")
        model = self.load()
        segments, info = model.transcribe(
            samples,
            language=language,
            beam_size=self.beam_size,
            vad_filter=True,
            vad_parameters=vad,
            condition_on_previous_text=False,
        )
        heard = [s for s in segments if s.text.strip()]
        text = " ".join(s.text.strip() for s in heard)
        if not text:
            raise AudioEmptyError(f"no words recognised in the recording ({duration:.1f} s)")
        weights = [max(1, len(s.tokens)) for s in heard]
        avg_logprob = sum(s.avg_logprob * w for s, w in zip(heard, weights, strict=True)) / sum(weights)
        no_speech = max(s.no_speech_prob for s in heard)
        compression = max(s.compression_ratio for s in heard)
        return Transcript(
            text=text,
            language=info.language,
            duration_s=duration,
            avg_logprob=round(avg_logprob, 3),
            no_speech_prob=round(no_speech, 3),
            compression_ratio=round(compression, 2),
            unsure=judge(avg_logprob, no_speech, compression),
        )

    async def transcribe_async(
        self,
        audio: bytes | Path,
        language: str | None = "ru",
        *,
        max_seconds: float | None = None,
    ) -> Transcript:
        """:meth:`transcribe` in a worker thread, so the event loop keeps serving other chats."""
        return await asyncio.to_thread(self.transcribe, audio, language, max_seconds=max_seconds)
