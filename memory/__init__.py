"""DORA's long-term memory: encrypted, per-user, hybrid retrieval on Chroma.

Knows nothing of Telegram or LangGraph.
"""
