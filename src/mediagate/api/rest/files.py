"""GET /files/{asset}.{ext}?expires=&signature= — signed, expiring downloads of stored assets."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from mediagate.api.rest.deps import GatewayDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.errors import NotFound

router = APIRouter(tags=["files"], route_class=StrictRoute)

GONE = "File not found or link expired"


def link_parts(name: str, signature: str) -> tuple[str, str]:
    """(asset id, extension) of a file link's last path segment, or NOT_FOUND.

    A signature is 32 hex digits (anything else, non-ASCII included, can never match: refused here,
    before `hmac.compare_digest`, which raises TypeError on non-ASCII text)."""
    asset_id, dot, ext = name.rpartition(".")
    if not dot or not asset_id or not ext or not signature or not signature.isascii():
        raise NotFound(GONE)
    return asset_id, ext


@router.get("/files/{name}")
async def download(name: str, gateway: GatewayDep, expires: int = 0, signature: str = "") -> FileResponse:
    asset_id, ext = link_parts(name, signature)
    path, content_type = await gateway.assets.open(asset_id, expires, signature)
    # The link names the file's own format: the signature covers the asset id, and each asset is stored
    # under exactly one extension, so `<id>.png?…` is served and `<id>.exe?…` (same signature) is not
    if path.suffix != f".{ext}":
        raise NotFound(GONE)
    return FileResponse(
        path,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )
