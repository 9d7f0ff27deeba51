"""The user's say over DORA writing first: ``/checkins on|off`` and ``/timezone``.

A time zone is an IANA name («Europe/Berlin», «Asia/Yekaterinburg») or an offset from UTC («+5»,
«UTC-3»); a few Russian city names are understood too. Telegram tells bots nothing about a user's
local time, so until the user says otherwise it is Moscow time.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.deps import BotDeps
from bot.identity import agent_user_id

CITIES = {
    "москва": "Europe/Moscow",
    "moscow": "Europe/Moscow",
    "петербург": "Europe/Moscow",
    "санкт-петербург": "Europe/Moscow",
    "калининград": "Europe/Kaliningrad",
    "самара": "Europe/Samara",
    "екатеринбург": "Asia/Yekaterinburg",
    "омск": "Asia/Omsk",
    "новосибирск": "Asia/Novosibirsk",
    "красноярск": "Asia/Krasnoyarsk",
    "иркутск": "Asia/Irkutsk",
    "якутск": "Asia/Yakutsk",
    "владивосток": "Asia/Vladivostok",
    "магадан": "Asia/Magadan",
    "камчатка": "Asia/Kamchatka",
    "london": "Europe/London",
    "berlin": "Europe/Berlin",
    "new york": "America/New_York",
}
_OFFSET = re.compile(r"^(?:utc|gmt|мск)?\s*([+-])\s*(\d{1,2})$", re.IGNORECASE)


def parse_zone(text: str) -> str | None:
    """An IANA zone name for what the user typed, or None."""
    text = text.strip()
    if not text:
        return None
    if (city := CITIES.get(text.lower())) is not None:
        return city
    if m := _OFFSET.match(text):
        sign, hours = m.group(1), int(m.group(2))
        if hours > 14:
            return None
        if hours == 0:
            return "UTC"
        # POSIX-style Etc zones are named with the sign reversed: UTC+5 is Etc/GMT-5
        return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return text


async def checkins_command(message: Message, command: CommandObject, deps: BotDeps, account: User) -> None:
    checkins = deps.companion.checkins
    if checkins is None:
        await message.answer(_("Check-ins are turned off on this bot."))
        return
    arg = (command.args or "").strip().lower()
    user_id = agent_user_id(account.id)
    if arg not in ("on", "off", "вкл", "выкл"):
        presence = await checkins.store.get(user_id)
        on = presence is None or presence.enabled
        state = _("on") if on else _("off")
        await message.answer(
            _(
                "Check-ins are {state}: now and then I write first, to ask how something you told me "
                "about went, or after a few quiet days. /checkins on or /checkins off"
            ).format(state=state)
        )
        return
    enabled = arg in ("on", "вкл")
    if not await checkins.store.set_enabled(user_id, enabled):
        # never talked yet: the row appears with the first message; keep the choice from now
        await checkins.seen(user_id, "telegram", account.persona_id or "dora", message.date)
        await checkins.store.set_enabled(user_id, enabled)
    await message.answer(
        _("Done: I'll write first now and then.") if enabled else _("Done: I won't write first any more.")
    )


async def timezone_command(message: Message, command: CommandObject, deps: BotDeps, account: User) -> None:
    checkins = deps.companion.checkins
    if checkins is None:
        await message.answer(_("Check-ins are turned off on this bot."))
        return
    user_id = agent_user_id(account.id)
    zone = parse_zone(command.args or "")
    if zone is None:
        presence = await checkins.store.get(user_id)
        current = presence.tz if presence else "Europe/Moscow"
        await message.answer(
            _(
                "Your time zone is {zone}. To change it, send e.g. /timezone Europe/Berlin, "
                "/timezone +5 or /timezone Екатеринбург."
            ).format(zone=current)
        )
        return
    if not await checkins.store.set_tz(user_id, zone):
        await checkins.seen(user_id, "telegram", account.persona_id or "dora", message.date)
        await checkins.store.set_tz(user_id, zone)
    await message.answer(_("Done: your time zone is {zone}.").format(zone=zone))


async def membership(event: ChatMemberUpdated, deps: BotDeps) -> None:
    """Telegram says the user blocked (or unblocked) the bot: no check-ins to someone who blocked it,
    learned before one is even tried."""
    if event.chat.type != "private":
        return
    blocked = event.new_chat_member.status == "kicked"
    await deps.accounts.mark_blocked(event.from_user.id, blocked)
    if deps.companion.checkins is not None:
        await deps.companion.checkins.store.set_blocked(agent_user_id(event.from_user.id), blocked)


def build_router() -> Router:
    router = Router(name="presence")
    router.message.register(checkins_command, Command("checkins"))
    router.message.register(timezone_command, Command("timezone"))
    router.my_chat_member.register(membership)
    return router
