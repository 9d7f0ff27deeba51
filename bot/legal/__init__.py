"""The Terms and the Privacy Policy the user accepts, in Russian and English, with their versions.

A consent is recorded with the version accepted; bumping a version here makes every user accept
again before their next message is processed.
"""

from __future__ import annotations

from importlib.resources import files

DOCUMENTS = ("terms", "privacy")
VERSIONS: dict[str, str] = {"terms": "2026-11-25", "privacy": "2026-12-07"}
# Sharing conversations for training (the Privacy Policy's section on it): optional, so not in
# VERSIONS (which every user must accept); a new version here asks those who share to agree again.
TRAINING_VERSION = "2026-12-07"


def text(document: str, lang: str) -> str:
    """The document's text in ``lang`` ("ru" or "en"; anything else gets English)."""
    if document not in DOCUMENTS:
        raise ValueError(f"unknown document {document!r}")
    lang = lang if lang in ("ru", "en") else "en"
    return (files(__package__) / f"{document}.{lang}.md").read_text(encoding="utf-8")
