"""`dora checkins due` as an operator runs it, after a `dora chat` user mentioned an event: real
processes, the tiny random-weight GGUF for the chat model (its words are noise; none are needed)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.presence.events import coming_event
from tests.test_cli_chat import dora

MSK = ZoneInfo("Europe/Moscow")
SAID = "В понедельник у меня собеседование в Яндекс, волнуюсь"


def test_a_chat_users_event_is_due_the_day_after_it_and_not_before(tmp_path: Path) -> None:
    data = tmp_path / "data"
    said_at = datetime.now(MSK)
    chat = dora(["chat", "--user", "ck1", "--persona", "dora"], data, SAID + "\n")
    assert chat.returncode == 0, chat.stderr
    event = coming_event(SAID, said_at)
    assert event is not None
    day_after = event.span.end.replace(hour=12)  # the follow-up goes from 11:00 the day after

    after = dora(["checkins", "due", "--at", day_after.isoformat(), "--json"], data, "", timeout=120)
    assert after.returncode == 0, after.stderr
    found = json.loads(after.stdout)["due"]
    assert [(d["user"], d["persona"], d["reason"]) for d in found] == [("ck1", "dora", "event")]
    assert found[0]["about"]  # the memory it is about

    # before the follow-up is due and before 4 days of silence would be: noon on the event's day, or
    # three days after it was said if the event is further off
    before = min(event.span.end - timedelta(days=1), said_at + timedelta(days=3))
    before = before.replace(hour=12, minute=0, second=0, microsecond=0)
    early = dora(["checkins", "due", "--at", before.isoformat(), "--json"], data, "", timeout=120)
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["due"] == []
    night = dora(["checkins", "due", "--at", day_after.replace(hour=23).isoformat(), "--json"], data, "")
    assert json.loads(night.stdout)["due"] == []  # quiet hours in the user's time zone
