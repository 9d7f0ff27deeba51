"""DORA's long-term memory: encrypted, per-user, hybrid retrieval on Chroma.

Knows nothing of Telegram or LangGraph, and opens on its own with :func:`open_memory` (see
:mod:`memory.opening`). The name is imported lazily, so importing one module of this package
does not load Chroma and the embedder.
"""

from __future__ import annotations

from typing import Any

__all__ = ["open_memory"]


def __getattr__(name: str) -> Any:
    if name == "open_memory":
        from memory.opening import open_memory

        return open_memory
    raise AttributeError(f"module 'memory' has no attribute {name!r}")
