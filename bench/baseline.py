"""The baseline: a bare FastAPI app on the server stack mediagate ships with (uvicorn, with uvloop and
httptools — `uvicorn.run(app, host=…, port=…, log_level=…, access_log=False)`, exactly as
`mediagate serve` calls it), with no database, no authentication and no work.

    GET  /api/v1/tasks/{task_id}   → 200, the JSON of `--task-body` (a real `GET /api/v1/tasks/{id}`
                                     answer from mediagate, so the body has the same size)
    POST /api/v1/generations       → 201, the JSON of `--created-body` (a real 201 from mediagate);
                                     the request body is parsed as JSON (a dict), nothing else

Both handlers return a dict and let FastAPI serialize it: the plainest FastAPI code there is.

    python bench/baseline.py --port 9000 --task-body task.json --created-body created.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI

DEFAULT_TASK = {
    "success": True,
    "data": {"id": "00000000-0000-0000-0000-000000000000", "status": "processing", "progress": 0},
}
DEFAULT_CREATED = {"success": True, "data": {"id": "00000000-0000-0000-0000-000000000000", "status": "pending"}}


def create_app(task_body: dict[str, Any], created_body: dict[str, Any]) -> FastAPI:
    app = FastAPI(title="baseline")

    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: str) -> dict[str, Any]:
        return task_body

    @app.post("/api/v1/generations", status_code=201)
    async def create_generation(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return created_body

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--task-body", help="JSON file: the GET /api/v1/tasks/{id} answer to send")
    parser.add_argument("--created-body", help="JSON file: the POST /api/v1/generations answer to send")
    args = parser.parse_args(argv)
    task = json.loads(Path(args.task_body).read_text()) if args.task_body else DEFAULT_TASK
    created = json.loads(Path(args.created_body).read_text()) if args.created_body else DEFAULT_CREATED
    app = create_app(task, created)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
