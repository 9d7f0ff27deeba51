"""Exceptions more than one layer raises or catches.

A missing model is met by the LLM backends (`agent`), speech and image generation (`tools`) and
reported by the root (`dora models`, start-up checks); it lives here so none of them has to
import another to name it.
"""

from __future__ import annotations

__all__ = ["ModelMissingError"]


class ModelMissingError(FileNotFoundError):
    """A model DORA needs is not on disk (or is corrupt); the message names the command or setting
    that fixes it."""
