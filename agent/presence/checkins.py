"""Check-ins: when DORA writes first, and when it must not.

Two reasons to write first. *Event*: the user said something is coming («в понедельник
собеседование»); the day after it, from ``followup_hour`` local time, the persona asks how it went,
once. *Silence*: the user has not written for ``silence_days``; one warm message about something DORA
remembers of them (never a generic "I miss you"), and never a second before they answer.

And the rules a person would expect of a friend who writes first, checked at the moment of sending
(the dry run, ``dora checkins due``, checks the same without changing anything):

- only inside the day's window in the user's time zone (``hours``, default 11–21: no messages at
  night or first thing in the morning);
- none while a check-in waits for an answer; none for a user who turned them off (``/checkins off``)
  or blocked the bot, or who never talked (rows exist only for users who did, after consent);
- none while a crisis is active for the user (the safety rules' risk, every persona) but one: a user
  silent for ``safety_after_h`` after a sign of suicidal crisis gets one fixed, caring message asking
  how they are, with the help lines (never for abuse: the abuser may read the phone); and an event
  check-in planned before a crisis sign is dropped: "how did the interview go?" after someone said
  they don't want to live reads as if nothing happened;
- none about a memory that is gone (forgotten: the check-in goes with it), and none about an event
  the user has already told about since it began;
- the persona the user last talked to writes; an event check-in expires ``expire_days`` after it
  was due (asking a week late is worse than not asking).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.presence.events import EVENT_LEMMAS, coming_event, mentions
from agent.presence.store import DEFAULT_TZ, Checkin, Presence, PresenceStore
from agent.safety.policy import active_risk
from agent.safety.replies import RISK_DAYS
from memory.lexical import lemmas
from memory.models import Memory, MemoryKind
from memory.store import MemoryStore

log = logging.getLogger(__name__)

ProfileOf = Callable[[str], Awaitable[dict[str, Any]]]
Sensitive = Callable[[str], bool]  # a text that must not be brought up unasked (a crisis message)


@dataclass(frozen=True)
class CheckinRules:
    """What the operator sets (``DORA_CHECKINS_*``)."""

    enabled: bool = True
    hours: tuple[int, int] = (11, 21)  # local hours a check-in may go out: [start, end)
    followup_hour: int = 11  # an event is asked about the day after, from this hour
    silence_days: float = 4.0  # 0: no re-engagement after silence
    expire_days: float = 3.0
    lease_s: float = 120.0  # a claim outlives a killed worker this long
    safety_after_h: float = (
        24.0  # a user silent this long after a sign of suicidal crisis is asked how they are
    )


@dataclass(frozen=True)
class Due:
    """A check-in that would go out now, and why (``dora checkins due``)."""

    user_id: str
    persona_id: str
    reason: str  # "event" | "silence" | "safety"
    about: str  # a memory id ("" for a safety check-back: it is about the user, not a memory)
    at: datetime  # when it became due
    checkin_id: int | None = None  # None: a silence check-in not planned yet

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.user_id,
            "persona": self.persona_id,
            "reason": self.reason,
            "about": self.about,
            "at": self.at.isoformat(),
        }


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


class Checkins:
    """Planning (after each turn), the rules, and the claim a sender makes before writing."""

    def __init__(
        self,
        store: PresenceStore,
        memory: MemoryStore,
        profile_of: ProfileOf,
        rules: CheckinRules | None = None,
        *,
        sensitive: Sensitive | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``clock``: when "now" is (a test moves it through a week)."""
        self.store, self.memory, self.profile_of = store, memory, profile_of
        self.rules = rules or CheckinRules()
        self.sensitive = sensitive or (lambda text: False)
        self.clock = clock

    # -- what the user does -------------------------------------------------------------------------

    async def seen(self, user_id: str, channel: str, persona_id: str, at: datetime) -> Checkin | None:
        """The user wrote (see :meth:`PresenceStore.seen`); the check-in it answers, if any."""
        return await self.store.seen(user_id, channel, persona_id, at)

    async def plan_from_message(
        self, user_id: str, persona_id: str, text: str, episode_id: str | None, at: datetime
    ) -> bool:
        """A message that names a coming event plans its follow-up (once per message), from the
        persona it was told to: each persona's conversation stays its own. Not while a crisis is
        active (this very message may be one: «завтра экзамен, и я не хочу жить»)."""
        if episode_id is None or not self.rules.enabled:
            return False
        presence = await self.store.get(user_id)
        tz = zone(presence.tz if presence else None)
        event = coming_event(text, at.astimezone(tz))
        if event is None or active_risk(await self.profile_of(user_id), at) is not None:
            return False
        due = event.over_at.replace(hour=self.rules.followup_hour, minute=0, second=0, microsecond=0)
        if event.over_at.hour > self.rules.followup_hour:  # (spans end at midnight; kept for safety)
            due += timedelta(days=1)
        expires = due + timedelta(days=self.rules.expire_days)
        planned = await self.store.plan(
            user_id,
            persona_id,
            "event",
            episode_id,
            f"event:{episode_id}",
            due.astimezone(UTC),
            expires.astimezone(UTC),
            at,
            sure=event.sure,
            event_start=event.span.start.astimezone(UTC),
        )
        if planned:
            log.info("presence: an event follow-up was planned (sure %.1f)", event.sure)
        return planned

    # -- what is due --------------------------------------------------------------------------------

    async def due(self, at: datetime, *, channel: str | None = None, user_id: str | None = None) -> list[Due]:
        """What would be sent at ``at``, changing nothing (the operator's dry run)."""
        out: list[Due] = []
        for candidate, presence in await self._candidates(at, channel, user_id):
            if await self._verdict(candidate, presence, at) == "ok":
                out.append(candidate)
        return out

    async def take(
        self, at: datetime, worker: str, channel: str, limit: int = 20, *, user_id: str | None = None
    ) -> list[Due]:
        """Claim what is due for ``channel`` now, for this worker to send; what can never be sent
        (forgotten, expired, after a crisis) is closed on the way. Each row goes to one worker only."""
        taken: list[Due] = []
        for candidate, presence in await self._candidates(at, channel, user_id):
            verdict = await self._verdict(candidate, presence, at)
            if verdict != "ok":
                if candidate.checkin_id is not None and verdict.startswith(("cancel:", "expire:")):
                    status = "expired" if verdict.startswith("expire:") else "cancelled"
                    await self.store.cancel(candidate.checkin_id, verdict.split(":", 1)[1], status)
                continue
            if candidate.checkin_id is None:  # silence, safety: planned now, idempotently (by key)
                await self.store.plan(
                    candidate.user_id,
                    candidate.persona_id,
                    candidate.reason,
                    candidate.about,
                    f"{candidate.reason}:{presence.last_message_at.isoformat()}",
                    candidate.at,
                    candidate.at + timedelta(days=self.rules.expire_days),
                    at,
                )
                rows = [
                    c for c in await self.store.planned(at, candidate.user_id) if c.reason == candidate.reason
                ]
                if not rows:
                    continue  # another worker planned it and took it first
                row = rows[0]
                candidate = Due(row.user_id, row.persona_id, row.reason, row.about, row.due_at, row.id)
            assert candidate.checkin_id is not None
            if await self.store.claim(candidate.checkin_id, worker, at, self.rules.lease_s):
                taken.append(candidate)
            if len(taken) >= limit:
                break
        return taken

    async def export(self, user_id: str) -> dict[str, Any]:
        """What the check-ins keep about the user, for their data export."""
        presence = await self.store.get(user_id)
        if presence is None:
            return {}
        return {
            "time_zone": presence.tz,
            "enabled": presence.enabled,
            "last_message_at": presence.last_message_at.isoformat(),
            "checkins": [
                {
                    "reason": c.reason,
                    "about": c.about,
                    "due_at": c.due_at.isoformat(),
                    "status": c.status,
                }
                for c in await self.store.of_user(user_id)
            ],
        }

    async def sent(self, due: Due, worker: str, at: datetime) -> None:
        assert due.checkin_id is not None
        checkin = next(c for c in await self.store.of_user(due.user_id) if c.id == due.checkin_id)
        await self.store.sent(checkin, worker, at)

    async def release(self, due: Due, worker: str) -> None:
        if due.checkin_id is not None:
            await self.store.release(due.checkin_id, worker)

    async def cancel(self, due: Due, why: str) -> None:
        if due.checkin_id is not None:
            await self.store.cancel(due.checkin_id, why)

    # -- the rules ----------------------------------------------------------------------------------

    async def _candidates(
        self, at: datetime, channel: str | None, user_id: str | None
    ) -> list[tuple[Due, Presence]]:
        if not self.rules.enabled:
            return []
        planned = await self.store.planned(at, user_id)
        users = {p.user_id: p for p in await self.store.users(channel, ids={c.user_id for c in planned})}
        out: list[tuple[Due, Presence]] = []
        for c in planned:
            if (presence := users.get(c.user_id)) is not None:
                out.append((Due(c.user_id, c.persona_id, c.reason, c.about, c.due_at, c.id), presence))
        waiting = {d.user_id for d, _ in out}
        # the safety check-back, before anything else: silent since a crisis sign within its days
        after_h = timedelta(hours=self.rules.safety_after_h)
        window = (at - timedelta(days=RISK_DAYS + 1), at - after_h)
        for presence in await self.store.users(channel, silent_between=window, user_id=user_id):
            if presence.user_id in waiting:
                continue
            risk_at = _risk_at(await self.profile_of(presence.user_id), at)
            if risk_at is None or await self.store.sent_since(presence.user_id, risk_at, "safety"):
                continue
            became_due = max(risk_at, presence.last_message_at) + after_h
            if became_due <= at:
                out.append((Due(presence.user_id, presence.persona_id, "safety", "", became_due), presence))
                waiting.add(presence.user_id)
        if self.rules.silence_days > 0:
            # silences that began within the last few days: one older than that was missed (the user
            # was away, off, or had nothing to recall) and is left alone rather than re-read forever
            silence = timedelta(days=self.rules.silence_days)
            window = (at - silence - timedelta(days=self.rules.expire_days), at - silence)
            for presence in await self.store.users(channel, silent_between=window, user_id=user_id):
                if presence.user_id in waiting:
                    continue
                if await self.store.sent_since(presence.user_id, presence.last_message_at):
                    continue  # one check-in per silence, answered or not
                about = await asyncio.to_thread(self._something_to_recall, presence)
                if about is None:
                    continue  # nothing to refer to: no generic message
                due = Due(
                    presence.user_id,
                    presence.persona_id,
                    "silence",
                    about.id,
                    presence.last_message_at + silence,
                )
                out.append((due, presence))
        return out

    async def _verdict(self, due: Due, presence: Presence, at: datetime) -> str:
        """ "ok", or why not: "wait:…" (maybe later), "cancel:…"/"expire:…" (never)."""
        if due.checkin_id is not None:
            checkin = next((c for c in await self.store.of_user(due.user_id) if c.id == due.checkin_id), None)
            if checkin is None:
                return "cancel:gone"
            if at >= checkin.expires_at:
                return "expire:late"
        else:
            checkin = None
        if not presence.enabled:
            return "wait:off"
        if presence.blocked:
            return "wait:blocked"
        if presence.awaiting_since is not None:
            return "wait:unanswered"
        start, end = self.rules.hours
        if not start <= at.astimezone(zone(presence.tz)).hour < end:
            return "wait:quiet hours"
        profile = await self.profile_of(due.user_id)
        if due.reason == "safety":  # the one check-in a crisis calls for
            if _risk_at(profile, at) is None:
                return "cancel:crisis over"
            if presence.last_message_at >= at - timedelta(hours=self.rules.safety_after_h):
                return "cancel:user wrote"
            return "ok"
        risk = active_risk(profile, at)
        if checkin is not None and due.reason == "event" and _crisis_since(profile, checkin.created_at):
            return "cancel:crisis"
        if risk is not None:
            return "wait:crisis"
        memory = await asyncio.to_thread(self.memory.get, due.user_id, due.about)
        if memory is None or (memory.invalid_at is not None and memory.invalid_at <= at):
            return "cancel:forgotten"
        silent_since = at - timedelta(days=self.rules.silence_days)
        if due.reason == "silence" and presence.last_message_at > silent_since:
            return "cancel:user wrote"
        if due.reason == "event" and checkin is not None and checkin.event_start is not None:
            told = await asyncio.to_thread(self._told_since, due.user_id, memory, checkin.event_start)
            if told:
                return "cancel:already told"
        return "ok"

    def _told_since(self, user_id: str, event: Memory, since: datetime) -> bool:
        """Whether the user spoke of the event again once it began («собеседование прошло ок»)."""
        words = tuple(w for w in dict.fromkeys(lemmas(event.text)) if w in EVENT_LEMMAS)
        if not words:
            return False
        for m in self.memory.list(user_id, kind=MemoryKind.EPISODE):
            if m.id != event.id and m.created_at >= since and mentions(m.text, words):
                return True
        return False

    def _something_to_recall(self, presence: Presence) -> Memory | None:
        """What a silence check-in refers to: the most important fact DORA holds about the user, else
        their latest message to this persona that says something (never a sensitive one)."""
        facts = [
            m
            for m in self.memory.list(presence.user_id, kind=MemoryKind.FACT)
            if m.invalid_at is None and not self.sensitive(m.text)
        ]
        if facts:
            return max(facts, key=lambda m: (m.importance, m.updated_at))
        episodes = [
            m
            for m in self.memory.list(presence.user_id, kind=MemoryKind.EPISODE, persona=presence.persona_id)
            if len(m.text.split()) >= 4 and not self.sensitive(m.text)
        ]
        return max(episodes, key=lambda m: m.created_at) if episodes else None


def _risk_at(profile: dict[str, Any], at: datetime) -> datetime | None:
    """When the user's active crisis sign was, if it calls for a check-back: thoughts of suicide or
    self-harm only. Never for abuse: a message from the bot lighting up the phone of someone whose
    abuser may read it could put them in danger."""
    risk = active_risk(profile, at)
    if risk is None or risk.get("label") != "self_harm":
        return None
    try:
        when = datetime.fromisoformat(str(risk.get("at")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _crisis_since(profile: dict[str, Any], since: datetime) -> bool:
    risk = profile.get("risk") or {}
    try:
        at = datetime.fromisoformat(str(risk.get("at"))) if risk.get("at") else None
    except ValueError:
        return False
    if at is None:
        return False
    return (at if at.tzinfo else at.replace(tzinfo=UTC)) >= since
