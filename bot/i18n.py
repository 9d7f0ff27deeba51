"""Translations with aiogram's gettext-based I18n: English message ids, Russian (default) and English.

The ``.po`` files are the source (reviewable text in the repo); they are compiled to ``.mo`` with
Babel into the data dir when missing or older than their source, so no binary files are committed.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "dora"
LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"


def _source_dir() -> Path:
    return Path(str(files(__package__) / "locales"))


def compile_locales(dest: Path) -> Path:
    """``dest/<locale>/LC_MESSAGES/dora.mo`` from the packaged ``.po`` files; returns ``dest``."""
    for locale in LOCALES:
        po = _source_dir() / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo = dest / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as src:
            catalog = read_po(src, locale=locale)
        tmp = mo.with_suffix(".tmp")
        with tmp.open("wb") as out:
            write_mo(out, catalog)
        tmp.replace(mo)
    return dest


def build_i18n(data_dir: Path) -> I18n:
    return I18n(path=compile_locales(data_dir / "locales"), default_locale=DEFAULT_LOCALE, domain=DOMAIN)


def locale_for(language_code: str | None) -> str:
    """Telegram's language code → our locale: English for en-*, Russian otherwise (Russian first)."""
    return "en" if (language_code or "").lower().startswith("en") else "ru"
