"""Shared fixtures: one real embedder per session, stores on real Chroma (embedded or a server)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dora.config import Settings
from dora.model_fetch import FetchError, ModelMissingError, fetch_model, require_model
from dora.wiring.memory import build_memory
from memory.embeddings import E5Embeddings
from memory.store import MemoryStore

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get("DORA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_problem() -> str | None:
    """Why the local PostgreSQL can't be used (None when it can)."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} (DORA_TEST_POSTGRES_URL) is not reachable: {type(exc).__name__}"


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A throwaway schema on the local PostgreSQL, as a plain postgresql:// URL that selects it;
    dropped afterwards, so runs never see each other's rows. Skipped, with the reason, without it."""
    if problem := postgres_problem():
        pytest.skip(problem)
    import uuid
    from urllib.parse import quote

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def embeddings() -> E5Embeddings:
    return E5Embeddings()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """A real `chroma run` process on a loopback port; can be stopped and started again."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(
            [chroma, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("chroma run exited at start") from None
                time.sleep(0.2)
        raise RuntimeError("chroma run did not start within 60 s")

    def start_on_same_port(self) -> None:
        """Start again where it was (same data, same port), like a restarted server."""
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    yield server
    server.stop()


StoreFactory = Callable[..., MemoryStore]


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(
    tmp_path: Path, embeddings: E5Embeddings, backend: str, request: pytest.FixtureRequest
) -> StoreFactory:
    """Build stores on the chosen backend; each test gets its own data dir (and so its own keys)."""
    url = request.getfixturevalue("chroma_server").url if backend == "server" else None

    def factory(data_dir: Path | None = None, **overrides: object) -> MemoryStore:
        settings = Settings(data_dir=data_dir or tmp_path / "data", chroma_url=url, **overrides)  # type: ignore[arg-type]
        return build_memory(settings, embeddings)

    return factory


@pytest.fixture
def store(make_store: StoreFactory) -> MemoryStore:
    return make_store()


# -- the speech model (whisper-base) ------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
MODEL = "whisper-base"


def _models_dirs() -> list[Path]:
    dirs: list[Path] = []
    # A broken .env or DORA_* variable is not this test's business: the repository's dir remains.
    with contextlib.suppress(ValueError):
        dirs.append(Settings().resolved_models_dir)
    dirs.append(REPO / "data" / "models")
    return list(dict.fromkeys(d.resolve() for d in dirs))


@pytest.fixture(scope="session")
def whisper_dir(request: pytest.FixtureRequest) -> Path:
    for models_dir in _models_dirs():
        try:
            return require_model(Settings(data_dir=models_dir.parent, models_dir=models_dir), MODEL)
        except ModelMissingError:
            continue
    cache = Path(request.config.cache.mkdir("dora-models"))
    try:
        return fetch_model(Settings(data_dir=cache, models_dir=cache), MODEL).path
    except FetchError as exc:
        pytest.skip(f"{MODEL} is not fetched (`dora models fetch {MODEL}`) and fetching it failed: {exc}")
