"""The composition root: the one place that reads :class:`~dora.config.Settings` and builds the
product's objects from it. Every package below takes plain values; each concern is wired here.

============  ===================================================================================
``runtime``   process defaults: no telemetry, no hub downloads, one BLAS thread
``memory``    the memory engine (``memory.opening`` with the settings' values)
``llm``       chat models per role on the configured backend
``media``     the voice transcriber, the photo selector, the image generator
``services``  Redis, locks, and the one clear error for a server that does not answer
``agent``     the companion: personas, safety, checkpointer (``open_companion``)
``bot``       the Telegram bot: database, Redis, companion, dispatcher; polling or webhook
============  ===================================================================================
"""

from dora.wiring import runtime as _runtime  # noqa: F401 - the process defaults, before anything loads a model
