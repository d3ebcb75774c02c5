"""`FastJSONResponse`: a `JSONResponse` rendered by orjson (the bytes `JSONResponse` gives — compact,
UTF-8 — at a tenth of the cost of the standard library's encoder). Used by the hot endpoints and the
error envelope."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
