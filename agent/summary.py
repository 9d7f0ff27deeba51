"""Short-term context: the last turns verbatim, older ones folded into a rolling summary.

Token counts are estimated from characters (about three per token for Russian and English with
Qwen's tokenizer), which is close enough for a budget and needs no tokenizer download.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage

from agent.language import Language
from agent.prompts import SUMMARY_PROMPT


def approx_tokens(message: AnyMessage) -> int:
    text = message.content if isinstance(message.content, str) else str(message.content)
    return len(text) // 3 + 4


def recent_window(messages: list[AnyMessage], budget: int) -> list[AnyMessage]:
    """The longest tail of ``messages`` within ``budget`` tokens that starts at a user message
    (always at least the last message)."""
    total, start = 0, len(messages)
    for i in range(len(messages) - 1, -1, -1):
        total += approx_tokens(messages[i])
        if total > budget and i < len(messages) - 1:
            break
        start = i
    while start < len(messages) - 1 and not isinstance(messages[start], HumanMessage):
        start += 1
    return messages[start:]


def split_for_summary(messages: list[AnyMessage], budget: int) -> tuple[list[AnyMessage], list[AnyMessage]]:
    """(older, kept): nothing to fold while the history fits ``budget``; past it, keep half the
    budget verbatim so summaries happen every few turns, not every turn."""
    if sum(approx_tokens(m) for m in messages) <= budget:
        return [], messages
    kept = recent_window(messages, budget // 2)
    return messages[: len(messages) - len(kept)], kept


async def summarize(
    llm: BaseChatModel, previous: str, older: list[AnyMessage], lang: Language, persona_name: str
) -> str:
    """The previous summary updated with ``older`` messages, by the summary-role model."""
    user = "User" if lang == "en" else "Собеседник"
    lines = []
    for m in older:
        if isinstance(m, HumanMessage):
            lines.append(f"{user}: {m.content}")
        elif isinstance(m, AIMessage) and m.content:
            lines.append(f"{persona_name}: {m.content}")
    label = ("Previous summary", "Messages") if lang == "en" else ("Прежнее краткое содержание", "Переписка")
    body = f"{label[0]}: {previous or '—'}\n\n{label[1]}:\n" + "\n".join(lines)
    answer = await llm.ainvoke(
        [SystemMessage(SUMMARY_PROMPT.get(lang, SUMMARY_PROMPT["ru"])), HumanMessage(body)]
    )
    text = answer.content if isinstance(answer.content, str) else str(answer.content)
    return text.strip() or previous
