"""The composition root: the one place that reads :class:`~dora.config.Settings` and builds the
product's objects from it. Every package below takes plain values; each concern is wired here.

============  ===================================================================================
``runtime``   process defaults: no telemetry, no hub downloads, one BLAS thread
``memory``    the memory engine (``memory.opening`` with the settings' values)
``llm``       chat models per role on the configured backend
``media``     the voice transcriber, the photo selector, the image generator
``services``  Redis, locks, and the one clear error for a server that does not answer
``agent``     the companion: personas, safety, checkpointer (``open_companion``)
``bot``       the Telegram bot: database, Redis, companion, dispatcher; polling or webhook
============  ===================================================================================

The names most callers want are importable from here too (lazily: importing one concern does
not load the others).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "limit_threads": "dora.wiring.runtime",
    "build_keyring": "dora.wiring.memory",
    "build_memory": "dora.wiring.memory",
    "build_embeddings": "dora.wiring.memory",
    "build_llm": "dora.wiring.llm",
    "llm_registry": "dora.wiring.llm",
    "build_transcriber": "dora.wiring.media",
    "build_generator": "dora.wiring.media",
    "build_photo_tools": "dora.wiring.media",
    "redacted": "dora.wiring.services",
    "open_redis": "dora.wiring.services",
    "build_locks": "dora.wiring.services",
    "build_personas": "dora.wiring.agent",
    "build_safety": "dora.wiring.agent",
    "build_helplines": "dora.wiring.agent",
    "imported_personas_dir": "dora.wiring.agent",
    "open_companion": "dora.wiring.agent",
    "database_url": "dora.wiring.bot",
    "running_bot": "dora.wiring.bot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dora.wiring' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
