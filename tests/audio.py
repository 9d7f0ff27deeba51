"""Voice notes for tests, made the way Telegram sends them: OGG/Opus, mono, 48 kHz.

Speech comes from espeak-ng (``espeak-ng -v ru -s 130 -w out.wav "text"``), then is encoded with
``ffmpeg -c:a libopus`` (resampled to 48 kHz), or ``opusenc`` when ffmpeg or its libopus is
missing (Opus always codes at 48 kHz). A helper whose tools are missing skips the test, with the
reason and the Debian package to install.
"""

from __future__ import annotations

import functools
import random
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import pytest

__all__ = ["corrupt_ogg", "encoder", "long_ogg", "noisy_ogg", "silent_ogg", "speak_ogg"]

BITRATE_KBPS = 32  # Telegram voice notes are about 30 kbit/s Opus
_TIMEOUT_S = 120
_FFMPEG = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y")


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


@functools.cache
def _ffmpeg_has_libopus() -> bool:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    proc = subprocess.run(
        [ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30, check=False
    )
    return proc.returncode == 0 and " libopus " in proc.stdout


def encoder() -> str:
    """``ffmpeg`` or ``opusenc``: what encodes OGG/Opus here; skips the test when neither can."""
    if _ffmpeg_has_libopus():
        return "ffmpeg"
    if shutil.which("opusenc"):
        return "opusenc"
    pytest.skip("no OGG/Opus encoder: install ffmpeg (with libopus) or opus-tools (opusenc)")


def _encode(wav: Path) -> bytes:
    out = wav.with_suffix(".ogg")
    if encoder() == "ffmpeg":
        _run(
            [
                *_FFMPEG,
                *("-i", str(wav), "-ar", "48000", "-ac", "1", "-c:a", "libopus"),
                *("-b:a", f"{BITRATE_KBPS}k", "-application", "voip", str(out)),
            ]
        )
    else:
        _run(["opusenc", "--quiet", "--bitrate", str(BITRATE_KBPS), "--downmix-mono", str(wav), str(out)])
    return out.read_bytes()


def speak_ogg(text: str, lang: str = "ru", speed: int = 130) -> bytes:
    """``text`` spoken by espeak-ng in ``lang`` at ``speed`` words a minute, as a voice note."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    encoder()
    with tempfile.TemporaryDirectory(prefix="dora-voice-") as tmp:
        wav = Path(tmp) / "out.wav"
        _run(["espeak-ng", "-v", lang, "-s", str(speed), "-w", str(wav), text])
        return _encode(wav)


def noisy_ogg(text: str, snr_db: float, lang: str = "ru", speed: int = 130, seed: int = 0) -> bytes:
    """``text`` spoken by espeak-ng with white noise mixed in at ``snr_db`` (signal to noise, the
    speech's power measured where it speaks), as a voice note: a recording made on a loud street."""
    import numpy as np

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    encoder()
    with tempfile.TemporaryDirectory(prefix="dora-voice-") as tmp:
        wav = Path(tmp) / "out.wav"
        _run(["espeak-ng", "-v", lang, "-s", str(speed), "-w", str(wav), text])
        with wave.open(str(wav), "rb") as w:
            rate = w.getframerate()
            speech = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768
        power = float(np.mean(speech[np.abs(speech) > 0.01] ** 2))
        noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(speech))
        mixed = np.clip(speech + noise, -1.0, 1.0)
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes((mixed * 32767).astype(np.int16).tobytes())
        return _encode(wav)


def silent_ogg(seconds: float) -> bytes:
    """A voice note of ``seconds`` of digital silence (0: a valid file with no audio at all)."""
    encoder()
    with tempfile.TemporaryDirectory(prefix="dora-voice-") as tmp:
        wav = Path(tmp) / "silence.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(48_000)
            w.writeframes(b"\0\0" * round(48_000 * seconds))
        return _encode(wav)


def long_ogg(seconds: float) -> bytes:
    """A silent voice note about ``seconds`` long, made fast: a 10-second note repeated by stream copy.

    Encoding two hours would take over a minute; ffmpeg copies the packets in well under a second.
    Without ffmpeg it is encoded outright (keep ``seconds`` to minutes then).
    """
    if encoder() != "ffmpeg":
        return silent_ogg(seconds)
    with tempfile.TemporaryDirectory(prefix="dora-voice-") as tmp:
        piece, out = Path(tmp) / "piece.ogg", Path(tmp) / "long.ogg"
        piece.write_bytes(silent_ogg(10))
        loops = max(0, round(seconds / 10) - 1)
        _run([*_FFMPEG, "-stream_loop", str(loops), "-i", str(piece), "-c", "copy", str(out)])
        return out.read_bytes()


def corrupt_ogg() -> bytes:
    """Bytes that start like an OGG voice note (the Ogg capture pattern) and then are garbage."""
    garbage = random.Random(20240601).randbytes(4096)  # the same bytes every run
    return b"OggS\x00\x02" + bytes(22) + garbage
