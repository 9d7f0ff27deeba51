"""Writes the operator notebooks from this source (`python notebooks/build.py`), so their code is
reviewable as plain Python and the .ipynb files never drift from it."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = '''import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from bot.db.engine import create_engine_and_sessions, migrate
from bot.db.repo import Accounts
from bot.identity import agent_user_id, user_ref
from dora.config import load_settings
from dora.wiring.bot import database_url

matplotlib.rcParams["figure.figsize"] = (9, 4)
settings = load_settings()  # DORA_DATA_DIR picks the data dir (`dora demo seed` makes one)
DATA = Path(settings.data_dir)
HAS_DATA = (DATA / "bot.sqlite").exists() or bool(settings.postgres_url)
if not HAS_DATA:
    print(f"No DORA data in {DATA.resolve()}: run `dora demo seed --data-dir {DATA}` or set DORA_DATA_DIR.")
else:
    url = database_url(settings)
    await migrate(url)
    engine, sessions = create_engine_and_sessions(url)
    accounts = Accounts(sessions)
    users = await accounts.list_users()
    print(f"{len(users)} users in {DATA}")
'''

INSPECT = [
    new_markdown_cell(
        "# What DORA remembers about a user\n\nPick a user, see their facts with validity periods and "
        "what superseded what, a timeline, a map of their memory embeddings, and a retrieval debugger."
    ),
    new_code_cell(SETUP),
    new_code_cell(
        '''USER = os.environ.get("DORA_NOTEBOOK_USER")
if HAS_DATA:
    from dora.wiring.memory import build_memory
    from memory.models import MemoryKind

    memory = build_memory(settings)
    if USER is None:  # the user DORA remembers most about
        counts = {str(u["id"]): memory.count(agent_user_id(u["id"]))["facts"] for u in users}
        USER = max(counts, key=counts.get) if counts else None
if HAS_DATA and USER:
    uid = user_ref(USER)
    memories = memory.list(uid, include_invalid=True)
    facts = [m for m in memories if m.kind == MemoryKind.FACT]
    episodes = [m for m in memories if m.kind == MemoryKind.EPISODE]
    print(f"user {USER}: {len(facts)} facts, {len(episodes)} episodes")
    by_id = {f.id: f for f in facts}
    for f in facts:
        until = f"{f.invalid_at:%Y-%m-%d}" if f.invalid_at else "now"
        retired = f", retired {f.expired_at:%Y-%m-%d}" if f.expired_at else ""
        superseded = f"  → superseded by «{by_id[f.superseded_by].text}»" if f.superseded_by in by_id else ""
        print(
            f"[{f.valid_at:%Y-%m-%d} … {until}; learned {f.created_at:%Y-%m-%d}{retired}] "
            f"({f.category.value}) {f.text}{superseded}"
        )
else:
    print("no user to show")'''
    ),
    new_code_cell(
        '''if HAS_DATA and USER and memories:
    fig, ax = plt.subplots()
    ax.scatter([e.created_at for e in episodes], [0] * len(episodes), marker="|", s=200, label="episodes")
    for n, f in enumerate(facts, start=1):
        end = f.invalid_at or max(m.created_at for m in memories)
        ax.plot([f.valid_at, end], [n, n], lw=4, color="grey" if not f.is_valid else "tab:green")
    ax.set_yticks(range(len(facts) + 1), ["messages"] + [f.text[:30] for f in facts])
    ax.set_title(f"Timeline of user {USER}: facts (grey: no longer valid) and messages")
    fig.autofmt_xdate()
    plt.show()'''
    ),
    new_code_cell(
        '''import numpy as np

if HAS_DATA and USER and len(memories) >= 3:
    vectors = memory.embeddings.passage_vectors([m.text for m in memories])
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, ax = plt.subplots()
    for label in sorted({m.category.value if m.kind == MemoryKind.FACT else "episode" for m in memories}):
        rows = [
            i
            for i, m in enumerate(memories)
            if (m.category.value if m.kind == MemoryKind.FACT else "episode") == label
        ]
        ax.scatter(xy[rows, 0], xy[rows, 1], label=label, alpha=0.7)
    ax.legend(fontsize=8)
    ax.set_title(f"User {USER}'s memory embeddings (PCA), by category")
    plt.show()'''
    ),
    new_code_cell(
        '''QUERY = os.environ.get("DORA_NOTEBOOK_QUERY", "как зовут моего кота?")
if HAS_DATA and USER:
    for r in memory.search(uid, QUERY, k=8, include_invalid=True, touch=False):
        p = r.parts
        print(
            f"{p.total:6.3f}  dense {p.dense:.3f}  lexical {p.lexical:5.2f}  recency {p.recency:.2f}  "
            f"importance {p.importance:.1f}  [{r.memory.kind.value}] {r.memory.text[:80]}"
        )'''
    ),
]

FUNNEL = [
    new_markdown_cell(
        "# Funnel\n\nFrom the bot's analytics events (labels only, no message text): start → consent → "
        "persona chosen → first message → day-1 and day-7 return → PRO; persona popularity; voice vs text."
    ),
    new_code_cell(SETUP),
    new_code_cell(
        '''from collections import Counter, defaultdict

events = await accounts.events() if HAS_DATA else []
by_user = defaultdict(list)
for e in events:
    by_user[e["user_id"]].append(e)


def reached(user_events, name):
    return any(e["name"] == name for e in user_events)


def returned(user_events, days):
    messages = sorted(e["at"] for e in user_events if e["name"] == "message")
    if not messages:
        return False
    from datetime import datetime, timedelta

    first = datetime.fromisoformat(messages[0])
    return any(datetime.fromisoformat(m) - first >= timedelta(days=days) for m in messages)


steps = {
    "start": sum(reached(v, "start") for v in by_user.values()),
    "consent": sum(reached(v, "consent") for v in by_user.values()),
    "persona chosen": sum(reached(v, "persona_chosen") for v in by_user.values()),
    "first message": sum(reached(v, "message") for v in by_user.values()),
    "day-1 return": sum(returned(v, 1) for v in by_user.values()),
    "day-7 return": sum(returned(v, 7) for v in by_user.values()),
    "PRO": sum(reached(v, "pro_paid") for v in by_user.values()),
}
print(steps if events else "no events yet")'''
    ),
    new_code_cell(
        '''if events:
    fig, ax = plt.subplots()
    ax.bar(list(steps), list(steps.values()), color="tab:blue")
    ax.set_title("Funnel: users reaching each step")
    plt.xticks(rotation=20)
    plt.show()

    personas = Counter(e["persona_id"] for e in events if e["name"] == "persona_chosen")
    kinds = Counter(e["kind"] for e in events if e["name"] == "message")
    fig, (left, right) = plt.subplots(1, 2)
    left.bar(list(personas), list(personas.values()), color="tab:purple")
    left.set_title("Persona popularity")
    right.pie(list(kinds.values()), labels=list(kinds), autopct="%1.0f%%")
    right.set_title("Voice vs text")
    plt.show()'''
    ),
    new_markdown_cell(
        "## Crisis signs\n\nMessages the safety rules saw as a crisis, by day, kind and tier (imminent: the "
        "fixed answer with help lines; ideation: the persona with a safety note). Counts only: no text, "
        "and no user is named."
    ),
    new_code_cell(
        '''crisis = Counter(
    (e["at"][:10], e["name"].removeprefix("crisis_"), e["kind"]) for e in events if e["name"].startswith("crisis_")
)
for (day, label, tier), n in sorted(crisis.items()):
    print(f"{day}  {label:<10} {tier:<9} {n}")
print(f"{sum(crisis.values())} crisis signs from {len({e['user_id'] for e in events if e['name'].startswith('crisis_')})} users")'''
    ),
    new_markdown_cell(
        "## Check-ins\n\nDORA writing first (`checkin_sent`: after an event the user mentioned, or after a "
        "silence) and whether the user answered within 24 hours (`checkin_answered`), by reason; and how "
        "many of those who got one wrote again within 7 days."
    ),
    new_code_cell(
        '''from datetime import datetime, timedelta

sent = [e for e in events if e["name"] == "checkin_sent"]
answered = Counter(e["kind"] for e in events if e["name"] == "checkin_answered")
for reason, n in sorted(Counter(e["kind"] for e in sent).items()):
    print(f"{reason:<8} sent {n:>4}   answered within 24 h {answered.get(reason, 0):>4} ({answered.get(reason, 0) / n:.0%})")


def came_back(e, days=7):
    at = datetime.fromisoformat(e["at"])
    return any(
        m["user_id"] == e["user_id"] and m["name"] == "message" and at < datetime.fromisoformat(m["at"]) <= at + timedelta(days=days)
        for m in events
    )


print(f"came back within 7 days: {sum(came_back(e) for e in sent)} of {len(sent)} check-ins")'''
    ),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    path = HERE / name
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    print(write("inspect_memories.ipynb", INSPECT))
    print(write("funnel.ipynb", FUNNEL))
