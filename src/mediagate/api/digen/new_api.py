"""DigenAI's "new API" (video, Bearer key): `/b/v1/api-key`, `/b/v1/upload`, `/b/v1/video/…`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from mediagate.api.digen.deps import BearerCaller, BearerCreator
from mediagate.api.digen.errors import DigenNewRoute
from mediagate.api.digen.schemas import VideoGenerateBody, created_video_json, video_json
from mediagate.api.digen.thumbnails import first_frame_jpeg
from mediagate.api.rest.deps import GatewayDep
from mediagate.api.rest.files import link_parts
from mediagate.api.rest.schemas import ts
from mediagate.domain.media import MediaType
from mediagate.errors import InvalidParameter, NotFound, PayloadTooLarge, TaskNotFound
from mediagate.services.validation import input_limits

router = APIRouter(prefix="/b/v1", tags=["digen"], route_class=DigenNewRoute)
CHUNK = 1024 * 1024
VIDEO_TYPES = (MediaType.VIDEO.value, MediaType.AVATAR.value)


@router.get("/api-key")
async def api_key_info(principal: BearerCaller, gateway: GatewayDep) -> dict[str, Any]:
    """The calling key: `{"api_key", "status": 1, "created_at"}` (the key is shown masked)."""
    keys = await gateway.accounts.list_keys(principal.account_id)
    key = next((k for k in keys if k.id == principal.key_id), None)
    if key is None:  # revoked and purged between authentication and now
        raise NotFound("API key not found")
    return {"api_key": key.display, "status": 1 if key.revoked_at is None else 0, "created_at": ts(key.created_at)}


@router.post("/upload")
async def upload(request: Request, principal: BearerCreator, gateway: GatewayDep) -> dict[str, Any]:
    """Multipart form with one field `file` (PNG, JPEG or WebP) → `{"url", "width", "height"}`."""
    limit = gateway.settings.upload_max_bytes
    too_large = f"upload is larger than the {limit // (1024 * 1024)} MB limit"
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(too_large)
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
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
    row, url = await gateway.assets.upload(principal.account_id, b"".join(chunks))
    return {"url": url, "width": row.width, "height": row.height, "expires_at": ts(row.expires_at)}


@router.post("/video/generate")
async def generate_video(body: VideoGenerateBody, principal: BearerCreator, gateway: GatewayDep) -> dict[str, Any]:
    """Text-to-video (prompt) or image-to-video (image_url [+ image_end_url]) → `{"id", "status", "created_at"}`."""
    view = await gateway.tasks.create(principal, body.to_input(input_limits(gateway.settings)))
    return created_video_json(view)


@router.get("/video/{video_id}")
async def get_video(video_id: str, principal: BearerCaller, gateway: GatewayDep) -> dict[str, Any]:
    """`pending` → `processing` → `completed` (with `output.video_url`, `output.thumbnail_url`) / `failed`."""
    view = await gateway.tasks.get(principal, video_id)
    if view.type not in VIDEO_TYPES:
        raise TaskNotFound("Video not found")
    return video_json(view, gateway.settings.base_url)


@router.get("/thumbnails/{name}", response_class=Response)
async def thumbnail(name: str, gateway: GatewayDep, expires: int = 0, signature: str = "") -> Response:
    """The first frame of a stored video as a JPEG; signed like the video's own link (no key needed)."""
    asset_id, ext = link_parts(name, signature)
    if ext != "jpg":  # (a thumbnail link is always `<video asset id>.jpg`)
        raise NotFound("File not found or link expired")
    path, content_type = await gateway.assets.open(asset_id, expires, signature)
    if not content_type.startswith("video/"):
        raise NotFound("File not found or link expired")
    try:
        data = await asyncio.to_thread(first_frame_jpeg, path)
    except Exception as exc:  # an undecodable file has no thumbnail
        raise NotFound("No thumbnail for this video") from exc
    return Response(
        data,
        media_type="image/jpeg",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False, response_model=None
)
async def unknown(path: str, request: Request) -> None:
    """Anything else under /b/v1 answers in DigenAI's envelope too."""
    raise NotFound(f"No route for {request.method} {request.url.path}")
