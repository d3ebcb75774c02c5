"""GET /files/{asset}.{ext}?expires=&signature= — signed, expiring downloads of stored assets."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from mediagate.api.rest.deps import GatewayDep
from mediagate.errors import NotFound

router = APIRouter(tags=["files"])


@router.get("/files/{name}")
async def download(name: str, gateway: GatewayDep, expires: int = 0, signature: str = "") -> FileResponse:
    asset_id = name.rsplit(".", 1)[0]
    if not asset_id or not signature:
        raise NotFound("File not found or link expired")
    path, content_type = await gateway.assets.open(asset_id, expires, signature)
    return FileResponse(
        path,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )
