"""Inline keyboards and their callback data (aiogram's typed ``CallbackData``: a forged payload
fails to parse and is ignored, never reaches a handler half-understood)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder


class ConsentCb(CallbackData, prefix="consent"):
    action: str  # "accept" | "terms" | "privacy"


class PersonaCb(CallbackData, prefix="p"):
    action: str  # "show" | "pick"
    index: int


class MemoryCb(CallbackData, prefix="m"):
    action: str  # "page" | "del"
    page: int
    memory_id: str = ""  # the first MEMORY_ID_CHARS of the id: Telegram allows 64 bytes of callback data
    q: str = ""  # the /memory search being paged, cut to fit (see fit_query)


MEMORY_ID_CHARS = 16
CALLBACK_BYTES = 64


def fit_query(query: str, page: int) -> str:
    """The search as much as fits a MemoryCb beside a page number and an id (":" separates fields)."""
    room = CALLBACK_BYTES - len(MemoryCb(action="del", page=page, memory_id="0" * MEMORY_ID_CHARS).pack()) - 1
    cut = query.replace(":", " ").strip()
    while len(cut.encode()) > room:
        cut = cut[:-1]
    return cut.strip()


class ForgetTopicCb(CallbackData, prefix="ft"):
    """The answer to "forget this?" after a request such as «забудь про кота»."""

    plan: str
    confirm: bool


class ForgetCb(CallbackData, prefix="forget"):
    confirm: bool


class LangCb(CallbackData, prefix="lang"):
    code: str


class AdultCb(CallbackData, prefix="adult"):
    action: str  # "on" | "off"


class ChannelCb(CallbackData, prefix="chan"):
    action: str  # "check"


def consent_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📄 Terms"), callback_data=ConsentCb(action="terms"))
    kb.button(text=_("🔒 Privacy Policy"), callback_data=ConsentCb(action="privacy"))
    kb.button(text=_("✅ I accept"), callback_data=ConsentCb(action="accept"))
    kb.adjust(2, 1)
    return kb.as_markup()


def persona_keyboard(index: int, total: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="◀", callback_data=PersonaCb(action="show", index=(index - 1) % total))
    kb.button(text=f"{index + 1}/{total}", callback_data=PersonaCb(action="show", index=index))
    kb.button(text="▶", callback_data=PersonaCb(action="show", index=(index + 1) % total))
    kb.button(text=_("💬 Talk to this one"), callback_data=PersonaCb(action="pick", index=index))
    kb.adjust(3, 1)
    return kb.as_markup()


def forget_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Yes, delete everything"), callback_data=ForgetCb(confirm=True))
    kb.button(text=_("Cancel"), callback_data=ForgetCb(confirm=False))
    return kb.as_markup()


def forget_topic_keyboard(plan_id: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Yes, forget it"), callback_data=ForgetTopicCb(plan=plan_id, confirm=True))
    kb.button(text=_("No, keep it"), callback_data=ForgetTopicCb(plan=plan_id, confirm=False))
    return kb.as_markup()


def language_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="Русский", callback_data=LangCb(code="ru"))
    kb.button(text="English", callback_data=LangCb(code="en"))
    return kb.as_markup()


def adult_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("I am 18 or older, turn it on"), callback_data=AdultCb(action="on"))
    kb.button(text=_("Turn it off"), callback_data=AdultCb(action="off"))
    kb.adjust(1)
    return kb.as_markup()


class RateCb(CallbackData, prefix="rate"):
    """🙂/🙁 under a reply (when the operator turned the row on); the reply is the message pressed."""

    value: str  # "up" | "down"


class RegenCb(CallbackData, prefix="regen"):
    """ "Answer again" after a 👎: the disliked reply's message id (the last message of the reply)."""

    message_id: int


class TrainingCb(CallbackData, prefix="train"):
    action: str  # "on" | "off"


def rating_keyboard() -> InlineKeyboardMarkup:
    """Emoji only: it is added after the turn, outside any user's language context."""
    kb = InlineKeyboardBuilder()
    kb.button(text="🙂", callback_data=RateCb(value="up"))
    kb.button(text="🙁", callback_data=RateCb(value="down"))
    return kb.as_markup()


def regenerate_keyboard(message_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🔄 Answer again"), callback_data=RegenCb(message_id=message_id))
    return kb.as_markup()


def training_keyboard(sharing: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if sharing:
        kb.button(text=_("Stop sharing and delete it"), callback_data=TrainingCb(action="off"))
    else:
        kb.button(text=_("✅ Yes, share my conversations"), callback_data=TrainingCb(action="on"))
    return kb.as_markup()
