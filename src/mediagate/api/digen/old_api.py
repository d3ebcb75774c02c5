"""DigenAI's "old API" (images, token + session headers): `/v2/tools/text_to_image`, `/v6/video/get_task_v2`.

Answers use DigenAI's `{"errCode": 0, "errMsg": "success", "data": …}` envelope. A `batch_size` of N makes
N mediagate tasks; their ids, joined by commas, are the one `jobID` the client polls.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from mediagate.api.digen.deps import TokenCaller, TokenCreator
from mediagate.api.digen.errors import DigenOldRoute
from mediagate.api.digen.schemas import TaskQueryBody, TextToImageBody, image_task_json
from mediagate.api.rest.deps import GatewayDep
from mediagate.errors import MediagateError, NotFound
from mediagate.services.validation import input_limits
from mediagate.services.views import TaskView

log = logging.getLogger("mediagate.api.digen")
router = APIRouter(tags=["digen"], route_class=DigenOldRoute)


def ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"errCode": 0, "errMsg": "success", "data": data}


@router.post("/v2/tools/text_to_image")
async def text_to_image(body: TextToImageBody, principal: TokenCreator, gateway: GatewayDep) -> dict[str, Any]:
    """Create an image task → `{"errCode": 0, "data": {"id": <jobID>, "itemId": <jobID>, "status": 1}}`."""
    inp = body.to_input(input_limits(gateway.settings))
    views: list[TaskView] = []
    for _ in range(body.count()):
        try:
            views.append(await gateway.tasks.create(principal, inp))
        except MediagateError:
            for view in views:  # all of the batch or nothing: refund what was already reserved
                try:
                    await gateway.tasks.cancel(principal, view.id)
                except MediagateError:
                    log.warning("could not cancel task %s of a failed batch", view.id)
            raise
    job_id = ",".join(v.id for v in views)
    return ok({"id": job_id, "itemId": job_id, "status": 1})


@router.post("/v6/video/get_task_v2")
async def get_task_v2(body: TaskQueryBody, principal: TokenCaller, gateway: GatewayDep) -> dict[str, Any]:
    """Status of a job: 1 new, 2 running, 4 completed (`resource_urls`), 5 failed."""
    ids = body.ids()
    views = [await gateway.tasks.get(principal, task_id) for task_id in ids]
    return ok(image_task_json(",".join(ids), views))


@router.api_route("/v2/tools/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_tool(path: str, request: Request) -> None:
    raise NotFound(f"No route for {request.method} {request.url.path}")


@router.api_route("/v6/video/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_video(path: str, request: Request) -> None:
    raise NotFound(f"No route for {request.method} {request.url.path}")
