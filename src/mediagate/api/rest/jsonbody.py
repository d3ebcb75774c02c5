"""Strict JSON request bodies for every FastAPI route of REST, OpenAI and DigenAI (and the plain
Starlette fast routes, through `loads`).

Bodies are parsed by orjson, which accepts RFC 8259 JSON only: invalid UTF-8, unpaired surrogate
escapes (`"\\ud800"`), `NaN` / `Infinity` and nesting past 1024 levels are parse errors (raised as
`json.JSONDecodeError`, which FastAPI and our fast routes turn into the route's `json_invalid` 400),
where the standard library's parser accepts the first three and raises `RecursionError` on the last.
It is also several times faster.

`StrictRoute` is FastAPI's documented seam for this (a custom `APIRoute` whose handler gets a custom
`Request`); `OpenAIRoute` and the DigenAI routes subclass it, and every REST router uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from mediagate.errors import NotFound

#: orjson's parser (raises `orjson.JSONDecodeError`, a subclass of `json.JSONDecodeError`)
loads = orjson.loads


class StrictJSONRequest(Request):
    """A request whose `json()` is orjson's strict parser."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


def check_path_params(request: Request) -> None:
    """No identifier we hand out contains NUL; as a database parameter it is an error on PostgreSQL
    (text cannot hold it), so a path naming one names nothing."""
    for value in request.path_params.values():
        if isinstance(value, str) and "\x00" in value:
            raise NotFound(f"No such resource: {request.url.path[:100]!r}")


class StrictRoute(APIRoute):
    """A FastAPI route that parses JSON bodies strictly (`StrictJSONRequest`) and refuses path
    parameters holding NUL with 404."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            check_path_params(request)
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
