"""POST /api/v1/uploads — image uploads usable in `image_urls`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from mediagate.api.rest.deps import CreatorDep, GatewayDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.api.rest.schemas import ok, ts
from mediagate.errors import InvalidParameter, PayloadTooLarge

router = APIRouter(tags=["uploads"], route_class=StrictRoute)
CHUNK = 1024 * 1024


@router.post("/uploads", status_code=201)
async def upload(request: Request, principal: CreatorDep, gateway: GatewayDep) -> dict[str, Any]:
    """Multipart form with one field `file` (PNG, JPEG or WebP, identified by content)."""
    limit = gateway.settings.upload_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(f"upload is larger than the {limit // (1024 * 1024)} MB limit")
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as exc:  # malformed multipart bodies
        raise InvalidParameter("expected a multipart/form-data body with a `file` field", field="file") from exc
    item = form.get("file")
    if not isinstance(item, UploadFile):
        raise InvalidParameter("Missing required parameters: file (multipart/form-data)", field="file")
    chunks: list[bytes] = []
    size = 0
    while chunk := await item.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"upload is larger than the {limit // (1024 * 1024)} MB limit")
        chunks.append(chunk)
    row, url = await gateway.assets.upload(principal.account_id, b"".join(chunks))
    return ok(
        {
            "id": row.id,
            "url": url,
            "content_type": row.content_type,
            "format": row.format,
            "bytes": row.bytes,
            "width": row.width,
            "height": row.height,
            "expires_at": ts(row.expires_at),
        }
    )
