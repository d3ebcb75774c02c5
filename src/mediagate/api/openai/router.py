"""The OpenAI-compatible front door under /v1: images, speech, videos and models in OpenAI's formats.

Every request becomes mediagate tasks through the core services; synchronous endpoints (images,
speech) wait for their tasks server-side and answer in OpenAI's shape. See docs/openai.md.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from mediagate.api.fastjson import FastJSONResponse
from mediagate.api.openai import mapping
from mediagate.api.openai.errors import INVALID_REQUEST, OpenAIError, OpenAIRoute, error_response
from mediagate.api.openai.jobs import (
    cancel_quietly,
    create_tasks,
    failure,
    first_output,
    open_output,
    read_output,
    wait_tasks,
)
from mediagate.api.openai.schemas import (
    ImageEditBody,
    ImageGenerationBody,
    ImageParams,
    SpeechBody,
    VideoBody,
    model_json,
    split_form,
    unix,
    video_json,
)
from mediagate.api.rest.deps import CallerDep, CreatorDep, GatewayDep, creating_caller
from mediagate.api.rest.jsonbody import loads
from mediagate.catalog import ModelSpec
from mediagate.domain.media import ACTIVE, MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.errors import MediagateError
from mediagate.gateway import Gateway
from mediagate.services.validation import input_limits
from mediagate.services.views import Principal, TaskView

router = APIRouter(prefix="/v1", route_class=OpenAIRoute, tags=["openai"])

CHUNK = 1024 * 1024
#: GET /v1/videos/{id} tells OpenAI's SDK poll helpers how long to wait before asking again
POLL_AFTER_MS = "1000"
#: GET /v1/videos looks through at most this many of the account's most recent tasks
LIST_SCAN = 1000
IMAGE_FORMATS = ("png", "jpeg", "webp", "gif")
VIDEO_TYPES = ("video", "avatar")

IdempotencyHeader = Header(default=None, alias="Idempotency-Key")
BodyT = TypeVar("BodyT", bound=BaseModel)


# --- helpers --------------------------------------------------------------------------------------


def rate_headers(request: Request) -> dict[str, str]:
    return dict(getattr(request.state, "rate_headers", None) or {})


def answer(
    request: Request,
    payload: dict[str, Any],
    replayed: bool = False,
    *,
    response_class: type[JSONResponse] = JSONResponse,
) -> JSONResponse:
    headers = rate_headers(request)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return response_class(payload, headers=headers)


@contextlib.contextmanager
def openai_params(names: dict[str, str]) -> Iterator[None]:
    """Errors that name one of our fields name the OpenAI parameter instead (`prompt` → `input` …)."""
    try:
        yield
    except MediagateError as exc:
        if exc.field in names:
            exc.field = names[exc.field]
        raise


def resolve_model(gateway: Gateway, name: str | None, types: tuple[MediaType, ...], what: str) -> ModelSpec | None:
    if name is None:
        return None
    model = gateway.catalog.resolve(name)
    if model is None or not model.enabled:
        raise OpenAIError(
            f"The model `{name}` does not exist or you do not have access to it.",
            status=404,
            param="model",
            code="model_not_found",
        )
    if model.type not in types:
        raise OpenAIError(
            f"Model '{name}' generates {model.type.value}; this endpoint needs a model that generates {what}.",
            param="model",
            code="invalid_value",
        )
    return model


async def read_form(request: Request, gateway: Gateway, max_files: int) -> FormData:
    limit = gateway.settings.upload_max_bytes * max(1, max_files)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise OpenAIError(
            f"The request is larger than the {limit // (1024 * 1024)} MB limit", status=413, code="payload_too_large"
        )
    try:
        return await request.form(max_files=max_files, max_fields=100)
    except Exception as exc:  # malformed multipart bodies, too many files
        raise OpenAIError(f"Could not parse the multipart form: {exc}") from exc


async def read_upload(item: UploadFile, gateway: Gateway, param: str) -> bytes:
    limit = gateway.settings.upload_max_bytes
    chunks: list[bytes] = []
    size = 0
    while chunk := await item.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise OpenAIError(
                f"{param} is larger than the {limit // (1024 * 1024)} MB limit",
                status=413,
                param=param,
                code="payload_too_large",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def store_image(gateway: Gateway, principal: Principal, data: bytes, param: str) -> str:
    """Keep an input image as an upload (validated PNG/JPEG/WebP); its signed URL goes in image_urls."""
    try:
        _, url = await gateway.assets.upload(principal.account_id, data)
    except MediagateError as exc:
        exc.field = param
        raise
    return url


def decode_data_url(url: str, param: str) -> bytes | None:
    """The bytes of a `data:image/…;base64,…` URL, None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise OpenAIError(f"{param} must be an http(s) URL or a base64 data URL", param=param, code="invalid_value")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OpenAIError(f"{param} is not valid base64", param=param, code="invalid_value") from exc


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- images ---------------------------------------------------------------------------------------

IMAGE_PARAMS = {"resolution": "size", "aspect_ratio": "size", "image_urls": "image"}


def generation_input(gateway: Gateway, names: dict[str, str], **fields: Any) -> GenerationInput:
    """A `GenerationInput` under the gateway's input limits; a refused value names the OpenAI parameter."""
    with openai_params(names):
        return GenerationInput.model_validate(fields, context=input_limits(gateway.settings).context())


def image_input(gateway: Gateway, body: ImageParams, model: ModelSpec | None, image_urls: list[str]) -> GenerationInput:
    if body.stream:
        raise OpenAIError("Streaming image generation is not supported by this gateway.", param="stream")
    options: dict[str, Any] = dict(body.options or {})
    options.update(mapping.map_quality(body.quality, model))
    options.update(mapping.map_model_option("background", body.background, model))
    options.update(mapping.map_model_option("moderation", body.moderation, model, ignorable=("auto", "low")))
    if body.output_compression is not None and (model is None or "output_compression" in model.options):
        options["output_compression"] = body.output_compression
    if isinstance(body, ImageGenerationBody) and body.style:
        options["style"] = body.style
    if isinstance(body, ImageEditBody):
        options.update(
            mapping.map_model_option("input_fidelity", body.input_fidelity, model, ignorable=("low", "high"))
        )
    sized = mapping.map_size(body.size, model, MediaType.IMAGE)
    return generation_input(
        gateway,
        IMAGE_PARAMS,
        type=MediaType.IMAGE,
        model=body.model,
        prompt=body.prompt,
        image_urls=image_urls,
        aspect_ratio=body.aspect_ratio or sized.get("aspect_ratio"),
        resolution=body.resolution or sized.get("resolution"),
        negative_prompt=body.negative_prompt,
        seed=body.seed,
        output_format=body.output_format,
        options=options,
    )


async def images_answer(
    request: Request,
    gateway: Gateway,
    principal: Principal,
    body: ImageParams,
    model: ModelSpec | None,
    inp: GenerationInput,
    fingerprint: Callable[[], Any],
    idempotency_key: str | None,
) -> JSONResponse:
    """Create the task(s), wait for them, answer `{created, data}`. `fingerprint` (the request as the
    idempotency check compares it) is only computed when there is an `Idempotency-Key`."""
    response_format = body.response_format or (
        "b64_json" if model is not None and model.id.startswith("gpt-image") else "url"
    )
    # watching the account's events before the tasks exist: no change to them can be missed
    async with gateway.events.watch(principal) as watch:
        with openai_params(IMAGE_PARAMS):
            created = await create_tasks(
                gateway, principal, [inp] * (body.n or 1), idempotency_key, fingerprint() if idempotency_key else None
            )
        ids, replayed = created.ids, created.replayed
        # the files a b64_json answer carries are kept in memory as the job stores them (no read back;
        # what a job stored before this, or another process's job, is read from the file)
        with gateway.assets.awaiting(ids if response_format == "b64_json" else []):
            views = await wait_tasks(gateway, principal, watch, created, request)
            for view in views:
                if view.status != "completed":
                    raise failure(view)
            data: list[dict[str, Any]] = []
            fmt: str | None = None
            size: str | None = None
            for view in views:
                output = first_output(view, "image")
                fmt = fmt or output.format
                if size is None and output.width and output.height:
                    size = f"{output.width}x{output.height}"
                item: dict[str, Any] = (
                    {"b64_json": base64.b64encode(await read_output(gateway, output)).decode("ascii")}
                    if response_format == "b64_json"
                    else {"url": output.url}
                )
                if view.prompt != body.prompt.strip():
                    item["revised_prompt"] = view.prompt  # mediagate changed the prompt (e.g. a style hint)
                data.append(item)
    payload: dict[str, Any] = {"created": unix(views[0].created_at), "data": data}
    if fmt in IMAGE_FORMATS:
        payload["output_format"] = fmt
    if size is not None:
        payload["size"] = size
    # (orjson: the same bytes as `JSONResponse` for these strings and integers, without scanning the
    # base64 text in Python)
    return answer(request, payload, replayed, response_class=FastJSONResponse)


@router.post("/images/generations")
async def create_image(
    body: ImageGenerationBody,
    request: Request,
    principal: CreatorDep,
    gateway: GatewayDep,
    idempotency_key: str | None = IdempotencyHeader,
) -> JSONResponse:
    """OpenAI `images.generate`: creates the task(s), waits for them, answers `{created, data}`."""
    # (documents the endpoint in the OpenAPI schema; requests are served by `create_image_fast`, below,
    # once `install_fast_routes` put it first in the app's routing table)
    return await generate_images(request, gateway, principal, body, idempotency_key)


async def generate_images(
    request: Request,
    gateway: Gateway,
    principal: Principal,
    body: ImageGenerationBody,
    idempotency_key: str | None,
) -> JSONResponse:
    model = resolve_model(gateway, body.model, (MediaType.IMAGE,), "images")
    inp = image_input(gateway, body, model, [])

    def fingerprint() -> dict[str, Any]:
        return {"endpoint": "images.generations", **body.model_dump(mode="json", exclude_none=True)}

    return await images_answer(request, gateway, principal, body, model, inp, fingerprint, idempotency_key)


async def create_image_fast(request: Request) -> Response:
    """`POST /v1/images/generations` as a plain Starlette endpoint: what `create_image` does, in the same
    order and with the same errors — the body read and parsed as FastAPI parses it (a JSON error before
    anything else), then authentication and the rate limit, then the body's validation, every error in
    OpenAI's envelope — without FastAPI's per-request routing and dependency machinery, which cost more
    than the route's own work (docs/benchmarks.md, round 4)."""
    try:
        data = await json_body(request)
        principal = await creating_caller(request)
        body = validated(ImageGenerationBody, data)
        gateway: Gateway = request.app.state.gateway
        return await generate_images(request, gateway, principal, body, request.headers.get("idempotency-key"))
    except Exception as exc:
        return error_response(exc, request)


#: what FastAPI's body reading stands for when the body is empty (a required body is then missing)
_NO_BODY = object()


async def json_body(request: Request) -> Any:
    """The request body as FastAPI reads a JSON body parameter: parsed only under a JSON content type
    (`application/json`, `application/*+json`), else the bytes as they are (their validation fails);
    `_NO_BODY` when empty. Invalid JSON raises FastAPI's `json_invalid` error, any other parsing error
    its 400."""
    raw = await request.body()
    if not raw:
        return _NO_BODY
    content_type = request.headers.get("content-type")
    if not content_type:
        return raw
    if content_type != "application/json":  # (what every client sends; anything else is parsed as FastAPI does)
        message = Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        if message.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
            return raw
    try:
        return loads(raw)  # orjson: strict JSON (no invalid UTF-8, lone surrogates, NaN; depth ≤ 1024)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except Exception as exc:
        raise StarletteHTTPException(status_code=400, detail="There was an error parsing the body") from exc


def validated(model: type[BodyT], data: Any) -> BodyT:
    """`data` validated as FastAPI validates a single body parameter (error locations under `body`)."""
    if data is _NO_BODY:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


def install_fast_routes(app: FastAPI) -> None:
    """Put the plain route for `POST /v1/images/generations` first in the app's routing table (the
    FastAPI route stays, for the OpenAPI schema, and is shadowed by it; other methods on that path still
    reach the FastAPI routes, as before)."""
    route = Route("/v1/images/generations", create_image_fast, methods=["POST"], include_in_schema=False)
    app.router.routes.insert(0, route)


@router.post("/images/edits")
async def edit_image(
    request: Request,
    principal: CreatorDep,
    gateway: GatewayDep,
    idempotency_key: str | None = IdempotencyHeader,
) -> JSONResponse:
    """OpenAI `images.edit` (multipart: `image` or `image[]`, `prompt`, `model`, `size` …)."""
    form = await read_form(request, gateway, max_files=17)
    fields, files = split_form(form)
    if files.get("mask"):
        raise OpenAIError("mask is not supported by this gateway; describe the edit in the prompt.", param="mask")
    unknown = sorted(set(files) - {"image", "mask"})
    if unknown:
        raise OpenAIError(
            f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0], code="unknown_parameter"
        )
    body = ImageEditBody.model_validate(fields)
    images = files.get("image", [])
    if not images:
        raise OpenAIError("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    model = resolve_model(gateway, body.model, (MediaType.IMAGE,), "images")
    contents = [await read_upload(item, gateway, "image") for item in images]
    urls = [await store_image(gateway, principal, data, "image") for data in contents]
    inp = image_input(gateway, body, model, urls)

    def fingerprint() -> dict[str, Any]:
        return {
            "endpoint": "images.edits",
            **body.model_dump(mode="json", exclude_none=True),
            "images": [digest(data) for data in contents],
        }

    return await images_answer(request, gateway, principal, body, model, inp, fingerprint, idempotency_key)


# --- speech ---------------------------------------------------------------------------------------

SPEECH_PARAMS = {"prompt": "input", "output_format": "response_format", "options.speed": "speed"}


@router.post("/audio/speech", response_model=None)
async def create_speech(
    body: SpeechBody,
    request: Request,
    principal: CreatorDep,
    gateway: GatewayDep,
    idempotency_key: str | None = IdempotencyHeader,
) -> Response:
    """OpenAI `audio.speech.create`: the audio file's bytes, with its content type."""
    model = resolve_model(gateway, body.model, (MediaType.AUDIO,), "speech")
    if model is None:  # `model` is required by SpeechBody; this only narrows the type
        raise OpenAIError("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if body.stream_format == "sse":
        raise OpenAIError("stream_format 'sse' is not supported; use 'audio'.", param="stream_format")
    answered, ours = mapping.speech_format(body.response_format, model)
    options: dict[str, Any] = dict(body.options or {})
    if body.speed is not None:
        if "speed" in model.options:
            options["speed"] = body.speed
        elif body.speed != 1.0:
            raise OpenAIError(
                f"Model '{model.id}' does not support 'speed'.", param="speed", code="unsupported_parameter"
            )
    if body.instructions:
        if "instructions" not in model.options:
            raise OpenAIError(
                f"Model '{model.id}' does not support 'instructions'.",
                param="instructions",
                code="unsupported_parameter",
            )
        options["instructions"] = body.instructions
    inp = generation_input(
        gateway,
        SPEECH_PARAMS,
        type=MediaType.AUDIO,
        model=body.model,
        prompt=body.input,
        voice=mapping.speech_voice(body.voice_name, model),
        output_format=ours,
        options=options,
    )
    fingerprint = {"endpoint": "audio.speech", **body.model_dump(mode="json", exclude_none=True)}
    async with gateway.events.watch(principal) as watch:
        with openai_params(SPEECH_PARAMS):
            created = await create_tasks(gateway, principal, [inp], idempotency_key, fingerprint)
        (view,) = await wait_tasks(gateway, principal, watch, created, request)
    replayed = created.replayed
    if view.status != "completed":
        raise failure(view)
    output = first_output(view, "audio")
    headers = rate_headers(request)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if answered == "pcm":
        pcm = mapping.wav_to_pcm(await read_output(gateway, output))
        return Response(pcm, media_type=mapping.SPEECH_CONTENT_TYPES["pcm"], headers=headers)
    path, content_type = await open_output(gateway, output)
    if output.format == mapping.SPEECH_FORMATS.get(answered):
        content_type = mapping.SPEECH_CONTENT_TYPES[answered]
    return FileResponse(path, media_type=content_type, headers=headers)


# --- models ---------------------------------------------------------------------------------------


def listed(gateway: Gateway, principal: Principal) -> list[ModelSpec]:
    """Test keys may use every model (sandbox); live keys see the models whose provider is configured."""
    models = gateway.catalog.enabled_models()
    if not principal.is_test:
        models = [m for m in models if not gateway.missing_settings(m.provider)]
    return sorted(models, key=lambda m: m.id)


@router.get("/models")
async def list_models(request: Request, principal: CallerDep, gateway: GatewayDep) -> JSONResponse:
    return answer(request, {"object": "list", "data": [model_json(m) for m in listed(gateway, principal)]})


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request, principal: CallerDep, gateway: GatewayDep) -> JSONResponse:
    model = gateway.catalog.resolve(model_id)
    if model is None or model not in listed(gateway, principal):
        raise OpenAIError(f"The model '{model_id}' does not exist", status=404, param="model", code="model_not_found")
    return answer(request, model_json(model))


# --- videos ---------------------------------------------------------------------------------------

VIDEO_PARAMS = {
    "duration": "seconds",
    "resolution": "size",
    "aspect_ratio": "size",
    "image_urls": "input_reference",
    "image_urls[0]": "input_reference",
}


async def video_body(request: Request, gateway: Gateway) -> tuple[VideoBody, bytes | None]:
    """The body as JSON or as the multipart form OpenAI's SDK sends; plus an uploaded reference image."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        fields, files = split_form(await read_form(request, gateway, max_files=1))
        unknown = sorted(set(files) - {"input_reference"})
        if unknown:
            raise OpenAIError(
                f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0], code="unknown_parameter"
            )
        upload = files.get("input_reference")
        data = await read_upload(upload[0], gateway, "input_reference") if upload else None
        return VideoBody.model_validate(fields), data
    try:
        raw = await request.json()
    except ValueError as exc:
        raise OpenAIError(
            "We could not parse the JSON body of your request. Send JSON or multipart/form-data."
        ) from exc
    return VideoBody.model_validate(raw), None


@router.post("/videos")
async def create_video(
    request: Request,
    principal: CreatorDep,
    gateway: GatewayDep,
    idempotency_key: str | None = IdempotencyHeader,
) -> JSONResponse:
    """OpenAI `videos.create`: a video job object (`status: queued`); poll GET /v1/videos/{id}."""
    body, upload = await video_body(request, gateway)
    model = resolve_model(gateway, body.model, (MediaType.VIDEO, MediaType.AVATAR), "video")
    image_data = upload
    image_url: str | None = None
    if body.input_reference is not None:
        if body.input_reference.file_id:
            raise OpenAIError(
                "input_reference.file_id is not supported; send the image itself or an image_url.",
                param="input_reference.file_id",
            )
        if body.input_reference.image_url:
            image_data = decode_data_url(body.input_reference.image_url, "input_reference.image_url")
            if image_data is None:
                image_url = body.input_reference.image_url
    if image_data is not None:
        image_url = await store_image(gateway, principal, image_data, "input_reference")
    sized = mapping.map_size(body.size, model, MediaType.VIDEO)
    inp = generation_input(
        gateway,
        VIDEO_PARAMS,
        type=model.type if model is not None else MediaType.VIDEO,
        model=body.model,
        prompt=body.prompt,
        image_urls=[image_url] if image_url else [],
        duration=mapping.map_seconds(body.seconds, model),
        aspect_ratio=body.aspect_ratio or sized.get("aspect_ratio"),
        resolution=body.resolution or sized.get("resolution"),
        negative_prompt=body.negative_prompt,
        seed=body.seed,
        generate_audio=body.generate_audio,
        options=dict(body.options or {}),
    )
    fingerprint: dict[str, Any] = {"endpoint": "videos", **body.model_dump(mode="json", exclude_none=True)}
    if upload is not None:
        fingerprint["input_reference_file"] = digest(upload)
    with openai_params(VIDEO_PARAMS):
        created = await create_tasks(gateway, principal, [inp], idempotency_key, fingerprint)
    # the job as its creation answered it (`queued`): a re-read could already find it started; a
    # replayed request is answered with the job as it is now
    view = created.views.get(created.ids[0]) or await gateway.tasks.get(principal, created.ids[0])
    return answer(request, video_json(view), created.replayed)


async def video_task(gateway: Gateway, principal: Principal, video_id: str) -> TaskView:
    try:
        view = await gateway.tasks.get(principal, video_id)
    except MediagateError as exc:
        raise OpenAIError(f"Video '{video_id}' not found.", status=404, param="video_id") from exc
    if view.type not in VIDEO_TYPES:
        raise OpenAIError(f"Video '{video_id}' not found.", status=404, param="video_id")
    return view


@router.get("/videos")
async def list_videos(
    request: Request,
    principal: CallerDep,
    gateway: GatewayDep,
    after: str | None = None,
    limit: int = 20,
    order: str = "desc",
) -> JSONResponse:
    """OpenAI `videos.list` (cursor pages), over the account's most recent tasks."""
    if not 1 <= limit <= 100:
        raise OpenAIError("limit must be between 1 and 100", param="limit", code="invalid_value")
    if order not in ("asc", "desc"):
        raise OpenAIError("order must be 'asc' or 'desc'", param="order", code="invalid_value")
    videos: list[TaskView] = []
    offset = 0
    while offset < LIST_SCAN:
        page = await gateway.tasks.list_tasks(principal, None, 100, offset)
        videos.extend(v for v in page.tasks if v.type in VIDEO_TYPES)
        offset += len(page.tasks)
        if len(page.tasks) < 100:
            break
    if order == "asc":
        videos.reverse()
    if after is not None:
        ids = [v.id for v in videos]
        videos = videos[ids.index(after) + 1 :] if after in ids else []
    chunk = videos[:limit]
    payload = {
        "object": "list",
        "data": [video_json(v) for v in chunk],
        "first_id": chunk[0].id if chunk else None,
        "last_id": chunk[-1].id if chunk else None,
        "has_more": len(videos) > limit,
    }
    return answer(request, payload)


@router.get("/videos/{video_id}")
async def retrieve_video(video_id: str, request: Request, principal: CallerDep, gateway: GatewayDep) -> JSONResponse:
    response = answer(request, video_json(await video_task(gateway, principal, video_id)))
    response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return response


@router.get("/videos/{video_id}/content", response_model=None)
async def video_content(
    video_id: str, request: Request, principal: CallerDep, gateway: GatewayDep, variant: str = "video"
) -> Response:
    """The MP4 of a completed video (`variant=video`; thumbnails and spritesheets are not made)."""
    if variant != "video":
        raise OpenAIError(
            f"variant '{variant}' is not supported; only 'video' is available.", param="variant", code="invalid_value"
        )
    view = await video_task(gateway, principal, video_id)
    if view.status != "completed":
        raise OpenAIError(
            f"Video '{video_id}' is not ready (status: {video_json(view)['status']}); "
            "poll GET /v1/videos/{video_id} until it is completed.",
            param="video_id",
            code="video_not_ready",
        )
    output = first_output(view, view.type)
    path, content_type = await open_output(gateway, output)
    return FileResponse(path, media_type=content_type, headers=rate_headers(request))


@router.delete("/videos/{video_id}")
async def delete_video(video_id: str, request: Request, principal: CreatorDep, gateway: GatewayDep) -> JSONResponse:
    """A queued or running video is cancelled (credits refunded): `deleted: true`. A finished one keeps its
    file until the retention period ends: `deleted: false`."""
    view = await video_task(gateway, principal, video_id)
    deleted = False
    if view.status in {s.value for s in ACTIVE}:
        await cancel_quietly(gateway, principal, [view.id])
        deleted = (await gateway.tasks.get(principal, view.id)).status == "cancelled"
    return answer(request, {"id": view.id, "object": "video.deleted", "deleted": deleted})


# --- everything else under /v1 ----------------------------------------------------------------------


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], include_in_schema=False
)
async def unknown_route(path: str, request: Request) -> JSONResponse:
    raise OpenAIError(f"Invalid URL ({request.method} {request.url.path})", status=404, type=INVALID_REQUEST)
