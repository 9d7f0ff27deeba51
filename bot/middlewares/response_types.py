"""Keep aiogram's parsed-response models alive, so they are built once per type, not per request.

aiogram parses every Bot API answer as ``Response[method.__returning__]``, a pydantic generic
parametrized on the spot. pydantic 2 caches parametrized generics in a ``WeakValueDictionary``
only: once the garbage collector has taken the class (nothing else holds it), the next request
builds it again, schema and validator, on the event loop. Under `dora bench bot` about a third of
the requests did, and that was the largest single cost of a turn after the embedder. One strong
reference per returning type (a few dozen at most) keeps pydantic's cache warm; held for the
process, as pydantic's cache is, so bots and sessions come and go without losing it.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

_KEPT: dict[Any, type[Response[Any]]] = {}


class KeepResponseTypes(BaseRequestMiddleware):
    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: TelegramMethod[Any]
    ) -> Response[Any]:
        returning = method.__returning__
        if returning not in _KEPT:
            _KEPT[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
