"""The DigenAI-compatible door: clients written for DigenAI work with only the base URL and key changed.

- new API (video, `Authorization: Bearer <key>`): `GET /b/v1/api-key`, `POST /b/v1/upload`,
  `POST /b/v1/video/generate`, `GET /b/v1/video/{id}` (+ `GET /b/v1/thumbnails/…`, our thumbnail links);
- old API (images, `DIGEN-Token: <key>` + `DIGEN-SessionID: <anything>`): `POST /v2/tools/text_to_image`,
  `POST /v6/video/get_task_v2`.

Translation only: requests become `GenerationInput`s for the task service; errors leave in DigenAI's
envelopes (see `errors`). See docs/digen.md.
"""

from fastapi import APIRouter

from mediagate.api.digen import new_api, old_api

router = APIRouter()
router.include_router(new_api.router)
router.include_router(old_api.router)

__all__ = ["router"]
