"""A fake of Kling's official video API (`/v1/videos/text2video`, `/v1/videos/image2video`).

Faithful where it matters to the adapter: the JWT is verified like Kling does (HS256 with the secret
key, `iss` = access key, `exp`/`nbf` checked, errors 1001–1004), every answer is the
``{"code", "message", "request_id", "data"}`` envelope, the poll path must match the submit type,
`duration` must be the string "5" or "10", and statuses go submitted → processing → succeed | failed.

Knobs beyond `FakeVendor`'s: `clock_offset` (seconds added to the fake's clock, to simulate skew),
`expire_next` (answer the next N calls with 1004 whatever the token), `errors_in_http_200` (send
error envelopes with HTTP 200, as some Kling front ends do), and `tokens` (the decoded claims seen).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, video_response

#: vendor model → the endpoints it serves
MODELS: dict[str, frozenset[str]] = {
    "kling-v1": frozenset({"text2video", "image2video"}),
    "kling-v1-5": frozenset({"image2video"}),
    "kling-v1-6": frozenset({"text2video", "image2video"}),
    "kling-v2-master": frozenset({"text2video", "image2video"}),
    "kling-v2-1": frozenset({"image2video"}),
    "kling-v2-1-master": frozenset({"text2video", "image2video"}),
    "kling-v2-5-turbo": frozenset({"text2video", "image2video"}),
    "kling-v2-6": frozenset({"text2video", "image2video"}),
}
CAMERA_TYPES = {"simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"}
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
#: the fake's default secret key (32+ bytes, as HS256 keys should be)
TEST_SECRET = "sk-test-0123456789abcdefghijklmnop"  # noqa: S105 - a test credential


class FakeKling(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/videos/(text2video|image2video)",
        "poll": r"GET /v1/videos/[^/]+/[^/]+",
        "download": r"GET /files/.+",
    }

    def __init__(self, access_key: str = "ak-test", secret_key: str = TEST_SECRET, latency: float = 0.6) -> None:
        super().__init__(api_key=access_key, latency=latency)
        self.access_key = access_key
        self.secret_key = secret_key
        self.clock_offset = 0.0
        self.expire_next = 0
        self.errors_in_http_200 = False
        self.tokens: list[dict[str, Any]] = []

    # --- wire helpers -------------------------------------------------------------------------

    def envelope(self, data: Any, *, code: int = 0, message: str = "SUCCEED", status: int = 200) -> JSONResponse:
        body = {"code": code, "message": message, "request_id": secrets.token_hex(12), "data": data}
        if code and self.errors_in_http_200:
            status = 200
        return JSONResponse(body, status_code=status)

    def error(self, status: int, code: int, message: str) -> JSONResponse:
        return self.envelope(None, code=code, message=message, status=status)

    def check_token(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header:
            return self.error(401, 1001, "Authorization is empty")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return self.error(401, 1002, "Authorization is invalid")
        try:
            claims = jwt.decode(
                token,
                self.secret_key,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_nbf": False, "require": ["iss", "exp", "nbf"]},
            )
        except jwt.PyJWTError:
            return self.error(401, 1002, "Authorization is invalid")
        self.tokens.append(claims)
        if claims.get("iss") != self.access_key:
            return self.error(401, 1000, "Authentication failed")
        now = time.time() + self.clock_offset
        if float(claims["nbf"]) > now:
            return self.error(401, 1003, "Authorization is not yet valid")
        if float(claims["exp"]) < now:
            return self.error(401, 1004, "Authorization has expired")
        with self.lock:
            if self.expire_next > 0:
                self.expire_next -= 1
                return self.error(401, 1004, "Authorization has expired")
        return None

    def guard(self, request: Request) -> JSONResponse | None:
        injected = self.take_injected()
        if injected == 429:
            return self.error(429, 1302, "The API request rate is too high, please reduce the frequency")
        if injected:
            codes = {500: 5000, 503: 5001, 504: 5002}
            return self.error(injected, codes.get(injected, 5000), "Server internal error")
        return self.check_token(request)

    # --- validation, as Kling does it -----------------------------------------------------------

    def invalid(self, kind: str, body: dict[str, Any]) -> JSONResponse | None:
        model = body.get("model_name", "kling-v1")
        if model not in MODELS:
            return self.error(404, 1203, f"model_name {model} not found")
        if kind not in MODELS[model]:
            return self.error(400, 1201, f"model_name {model} is not supported for {kind}")
        prompt = body.get("prompt")
        if kind == "text2video" and not prompt:
            return self.error(400, 1200, "prompt is required")
        if len(str(prompt or "")) > 2500 or len(str(body.get("negative_prompt") or "")) > 2500:
            return self.error(400, 1201, "prompt cannot exceed 2500 characters")
        if kind == "image2video" and not (body.get("image") or body.get("image_tail")):
            return self.error(400, 1200, "image or image_tail is required")
        if body.get("duration", "5") not in ("5", "10"):
            return self.error(400, 1201, "duration must be one of '5', '10'")
        if body.get("mode", "std") not in ("std", "pro"):
            return self.error(400, 1201, "mode must be one of std, pro")
        if kind == "text2video" and body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
            return self.error(400, 1201, "aspect_ratio must be one of 16:9, 9:16, 1:1")
        if "sound" in body:
            if model != "kling-v2-6" or body["sound"] not in ("on", "off"):
                return self.error(400, 1201, f"sound is not supported by {model}")
            if body["sound"] == "on" and body.get("mode") != "pro":
                return self.error(400, 1201, "sound requires mode pro")
        if (camera := body.get("camera_control")) is not None and (problem := self.camera_problem(camera)):
            return self.error(400, 1201, problem)
        external = body.get("external_task_id")
        if external and any(j.body.get("external_task_id") == external for j in self.jobs.values()):
            return self.error(400, 1201, "external_task_id already exists")
        if "[blocked]" in str(prompt or ""):
            return self.error(400, 1301, "Trigger the content risk control of the platform")
        return None

    @staticmethod
    def camera_problem(camera: Any) -> str | None:
        if not isinstance(camera, dict) or camera.get("type") not in CAMERA_TYPES:
            return f"camera_control.type must be one of {', '.join(sorted(CAMERA_TYPES))}"
        if camera["type"] != "simple":
            return None
        config = camera.get("config")
        if not isinstance(config, dict):
            return "camera_control.config is required when type is simple"
        values = [config.get(axis, 0) for axis in CAMERA_AXES]
        if any(not isinstance(v, int | float) or not -10 <= v <= 10 for v in values):
            return "camera_control.config values must be in [-10, 10]"
        if sum(1 for v in values if v) != 1:
            return "camera_control.config must have exactly one non-zero value"
        return None

    # --- task views -----------------------------------------------------------------------------

    def task_data(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        data: dict[str, Any] = {
            "task_id": job.id,
            "task_info": {"external_task_id": job.body.get("external_task_id", "")},
            "created_at": job.extra["created_at"],
            "updated_at": int(time.time() * 1000),
        }
        if phase == "queued":
            data["task_status"] = "submitted"
        elif phase == "running":
            data["task_status"] = "processing"
        elif job.outcome == "moderation":
            data["task_status"] = "failed"
            data["task_status_msg"] = "Failure to pass the risk control system"
        elif job.outcome == "fail":
            data["task_status"] = "failed"
            data["task_status_msg"] = "Generation failed, please try again later"
        else:
            data["task_status"] = "succeed"
            data["task_status_msg"] = ""
            data["final_unit_deduction"] = "1"
            data["task_result"] = {
                "videos": [
                    {"id": f"{job.id}-0", "url": self.file_url(job), "duration": str(job.body.get("duration", "5"))}
                ]
            }
        return data

    def app(self) -> Starlette:
        async def create(request: Request) -> Response:
            kind = request.url.path.rsplit("/", 1)[-1]
            self.calls[f"create_{kind}"] += 1
            self.calls["create"] += 1
            if (refused := self.guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return self.error(400, 1200, "request body is not valid JSON")
            if not isinstance(body, dict):
                return self.error(400, 1200, "request body must be a JSON object")
            if (problem := self.invalid(kind, body)) is not None:
                return problem
            job = self.add(str(800000000000000000 + secrets.randbelow(10**17)), body, str(body.get("prompt") or ""))
            job.extra.update(created_at=int(time.time() * 1000), kind=kind)
            return self.envelope(
                {
                    "task_id": job.id,
                    "task_status": "submitted",
                    "task_info": {"external_task_id": body.get("external_task_id", "")},
                    "created_at": job.extra["created_at"],
                    "updated_at": job.extra["created_at"],
                }
            )

        async def get(request: Request) -> Response:
            kind = request.path_params["kind"]
            self.calls[f"get_{kind}"] += 1
            self.calls["get"] += 1
            if (refused := self.guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None or job.extra.get("kind") != kind:  # the path must match the submit type
                return self.error(404, 1203, "task not found")
            return self.envelope(self.task_data(job))

        async def listing(request: Request) -> Response:
            kind = request.path_params["kind"]
            if (refused := self.guard(request)) is not None:
                return refused
            page, size = int(request.query_params.get("pageNum", 1)), int(request.query_params.get("pageSize", 30))
            jobs = [j for j in self.jobs.values() if j.extra.get("kind") == kind]
            return self.envelope([self.task_data(j) for j in jobs[(page - 1) * size : page * size]])

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None:
                return Response(status_code=404)
            ratio = job.body.get("aspect_ratio") if job.extra.get("kind") == "text2video" else None
            # rendered at 480p to keep tests fast (Kling renders 720p in std, 1080p in pro)
            return video_response(job, resolution="480p", ratio=ratio, duration=float(job.body.get("duration", "5")))

        return self.serve(
            routes=[
                Route("/v1/videos/text2video", create, methods=["POST"]),
                Route("/v1/videos/image2video", create, methods=["POST"]),
                Route("/v1/videos/{kind:str}", listing, methods=["GET"]),
                Route("/v1/videos/{kind:str}/{task_id:str}", get, methods=["GET"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
