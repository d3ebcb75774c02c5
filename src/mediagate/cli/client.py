"""Client commands of the `mediagate` CLI: generate, tasks, models, account, batch.

They talk to a running gateway over HTTP with the SDK (`mediagate.client`); only click, rich,
httpx and pydantic are needed (`pip install 'mediagate[client]'`).

Exit codes (documented in docs/cli.md):

    0  success                         5  rate limited
    1  a task failed (or was cancelled) 6  task / resource not found
    2  usage error, invalid input       7  provider error or provider unavailable
    3  missing or invalid API key       8  server error or server unreachable
    4  insufficient credits            9  timed out waiting for a task
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import csv
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mediagate.client import (
    APIConnectionError,
    AuthenticationError,
    BatchResult,
    Client,
    GenerationParams,
    InsufficientCreditsError,
    InvalidParameterError,
    MediagateError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    Task,
    TaskFailedError,
    TimeoutError,
)
from mediagate.client._core import is_url
from mediagate.client.types import MediaType

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CREDITS = 4
EXIT_RATE_LIMIT = 5
EXIT_NOT_FOUND = 6
EXIT_PROVIDER = 7
EXIT_SERVER = 8
EXIT_TIMEOUT = 9
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _out() -> Console:
    """stdout; wide when piped, so tables keep whole ids."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


# --- errors and exit codes -------------------------------------------------------------------------------------


def exit_code(error: BaseException) -> int:
    """The documented exit code for an SDK error."""
    if isinstance(error, TaskFailedError):
        return EXIT_TASK_FAILED
    if isinstance(error, AuthenticationError):
        return EXIT_AUTH
    if isinstance(error, InsufficientCreditsError):
        return EXIT_CREDITS
    if isinstance(error, RateLimitError):
        return EXIT_RATE_LIMIT
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, InvalidParameterError):
        return EXIT_USAGE
    if isinstance(error, ProviderError):
        return EXIT_PROVIDER
    if isinstance(error, TimeoutError):
        return EXIT_TIMEOUT
    return EXIT_SERVER


def describe(error: MediagateError) -> str:
    text = f"error: {error.code}: {error.message}"
    if isinstance(error, AuthenticationError):
        text += "\n  hint: pass --api-key or set MEDIAGATE_API_KEY (create one with `mediagate admin create-key`)"
    elif isinstance(error, InsufficientCreditsError) and error.required is not None:
        text += f"\n  required: {error.required} credits, available: {error.available}"
    elif isinstance(error, RateLimitError) and error.retry_after is not None:
        text += f"\n  retry after: {error.retry_after:g} s"
    elif isinstance(error, InvalidParameterError) and error.field:
        text += f"\n  field: {error.field}"
    elif isinstance(error, APIConnectionError):
        text += "\n  hint: is the gateway running? check --base-url / MEDIAGATE_BASE_URL"
    elif isinstance(error, TimeoutError) and error.task is not None:
        text += f"\n  the task keeps running: mediagate tasks wait {error.task.id}"
    return text


def fail(error: MediagateError) -> NoReturn:
    err.print(escape(describe(error)), style="red")
    raise click.exceptions.Exit(exit_code(error))


def api_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --base-url/--api-key, build the `Client`, and turn SDK errors into exit codes.

    The result takes --base-url/--api-key instead of `func`'s first argument (the client): a
    different signature, so it is typed as any callable (click.command takes any).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, base_url: str | None, api_key: str | None, **kwargs: Any) -> Any:
        try:
            with Client(api_key=api_key, base_url=base_url) as client:
                return func(client, *args, **kwargs)
        except MediagateError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err.print("interrupted", style="yellow")
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    wrapper = click.option(
        "--api-key",
        envvar="MEDIAGATE_API_KEY",
        show_envvar=True,
        help="API key (Bearer token).",
    )(wrapper)
    wrapper = click.option(
        "--base-url",
        envvar="MEDIAGATE_BASE_URL",
        show_envvar=True,
        help="Gateway URL (default http://127.0.0.1:8000).",
    )(wrapper)
    return wrapper


# --- output helpers ----------------------------------------------------------------------------------------------


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _task_lines(task: Task, file: Path | None = None) -> list[str]:
    lines = [f"id: {task.id}", f"status: {task.status}"]
    if task.model:
        lines.append(f"model: {task.model} ({task.provider or '?'}, {task.task_type or task.type})")
    if task.credit_cost is not None:
        lines.append(f"cost: {task.credit_cost} credits{' (sandbox)' if task.sandbox else ''}")
    if task.status not in ("completed", "failed", "cancelled") and task.progress is not None:
        lines.append(f"progress: {task.progress}%")
    if task.url:
        lines.append(f"url: {task.url}")
    if task.error_message or task.error:
        lines.append(f"error: {task.error_code or ''} {task.error_message or task.error}".replace("  ", " "))
    if file is not None:
        lines.append(f"file: {file}")
    return lines


def _progress(counts: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if counts else TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def wait_with_progress(client: Client, task: Task, timeout: float | None, label: str) -> Task:
    """Follow the task with a live progress bar (on stderr). `Client.wait` follows the task's event
    stream, so the bar moves on each status/progress event as it happens (and on each poll against a
    gateway without event streams)."""
    with _progress() as progress:
        bar = progress.add_task(f"{label} {task.status}", total=100)

        def update(current: Task) -> None:
            done = 100 if current.succeeded else (current.progress or 0)
            progress.update(bar, completed=done, description=f"{label} {current.status}")

        return client.wait(task, timeout=timeout, on_update=update, raise_on_failure=False)


def finish_task(client: Client, task: Task, out_path: str | None, as_json: bool, download: bool = True) -> None:
    """Download a finished task's output, print the summary, exit 1 when it failed."""
    file = client.download(task, out_path) if task.succeeded and download else None
    if as_json:
        _json({**task.model_dump(mode="json"), "file": str(file) if file else None})
    else:
        for line in _task_lines(task, file):
            click.echo(line)
    if not task.succeeded:
        reason = task.error_message or task.error or task.status
        err.print(escape(f"task {task.id} {task.status}: {reason}"), style="red")
        raise click.exceptions.Exit(EXIT_TASK_FAILED)


# --- generate ---------------------------------------------------------------------------------------------------


def _parse_option(values: tuple[str, ...]) -> dict[str, Any] | None:
    options: dict[str, Any] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected KEY=VALUE, got {raw!r}", param_hint="--option")
        try:
            options[name] = json.loads(value)
        except ValueError:
            options[name] = value
    return options or None


def _check_inputs(values: tuple[str, ...] | list[str], hint: str) -> list[str | Path]:
    """URLs pass through; local files must exist and be readable (they are uploaded)."""
    checked: list[str | Path] = []
    for value in values:
        if is_url(value):
            checked.append(value)
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise click.BadParameter(f"{value!r} is not a URL or a readable file", param_hint=hint)
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value!r}: {exc.strerror}", param_hint=hint) from exc
        checked.append(path)
    return checked


MEDIA: dict[str, MediaType] = {"video": "video", "image": "image", "speech": "audio", "avatar": "avatar"}

_OPTIONS: dict[str, Callable[[F], F]] = {
    "duration": click.option("--duration", type=float, help="Seconds (video: e.g. 5 or 10)."),
    "resolution": click.option("--resolution", help="e.g. 480p, 720p, 1080p."),
    "aspect_ratio": click.option("--aspect-ratio", help="e.g. 16:9, 9:16, 1:1."),
    "audio": click.option("--audio/--no-audio", "generate_audio", default=None, help="Generate a sound track."),
    "voice": click.option("--voice", help="Voice id (speech, avatar)."),
    "format": click.option("--format", "output_format", help="Output format (png, jpeg, wav, mp3 …)."),
    "image": click.option(
        "--image", "images", multiple=True, metavar="FILE_OR_URL", help="Input image; local files are uploaded."
    ),
    "audio_file": click.option(
        "--audio-file", "audio", metavar="FILE_OR_URL", help="Speech to lip-sync (avatar); files are uploaded."
    ),
    "seed": click.option("--seed", type=int, help="Random seed."),
    "negative_prompt": click.option("--negative-prompt", help="What to avoid."),
}

_PER_KIND = {
    "video": ["duration", "resolution", "aspect_ratio", "audio", "image", "seed", "negative_prompt", "format"],
    "image": ["resolution", "aspect_ratio", "image", "seed", "negative_prompt", "format"],
    "speech": ["voice", "format"],
    "avatar": ["image", "audio_file", "voice", "duration", "resolution", "aspect_ratio", "format"],
}

_HELP = {
    "video": "Generate a video from PROMPT (text-to-video; image-to-video with --image).",
    "image": "Generate an image from PROMPT (image-to-image with --image).",
    "speech": "Speak TEXT (text-to-speech). TEXT '-' reads standard input.",
    "avatar": "Make a talking avatar from --image and --audio-file, or PROMPT as the text to speak.",
}


@click.group()
def generate() -> None:
    """Create a generation task, wait for it and download the result."""


def _make_generate(kind: str) -> click.Command:
    def command(client: Client, prompt: str | None, **kw: Any) -> None:
        if prompt == "-":
            prompt = sys.stdin.read().strip()
        wait, out_path, as_json, timeout = kw.pop("wait"), kw.pop("out"), kw.pop("as_json"), kw.pop("timeout")
        kw["options"] = _parse_option(kw.pop("option"))
        if "images" in kw:
            kw["images"] = _check_inputs(kw["images"], "--image") or None
        if kw.get("audio") is not None:
            kw["audio"] = _check_inputs([kw["audio"]], "--audio-file")[0]
        if kind == "avatar" and not kw.get("images"):
            raise click.UsageError("an avatar needs a portrait: --image FILE_OR_URL")
        task = client.generate(prompt, type=MEDIA[kind], **kw)
        err.print(escape(f"created task {task.id} ({task.model or kind}, {task.task_type or MEDIA[kind]})"))
        if not wait:
            if out_path is not None:
                err.print(
                    "note: --out is ignored with --no-wait (use `mediagate tasks wait ID --out …`)", style="yellow"
                )
            if as_json:
                _json(task.model_dump(mode="json"))
            else:
                click.echo(task.id)
            return
        task = wait_with_progress(client, task, timeout, kind)
        finish_task(client, task, out_path, as_json)

    command.__name__ = kind
    command.__doc__ = _HELP[kind]
    decorated: Any = api_command(command)
    options = [
        click.argument("prompt", required=kind != "avatar"),
        click.option("--model", "-m", help="Model id or alias (see `mediagate models`)."),
        click.option("--provider", help="Provider, when no model is named."),
        click.option("--priority", type=click.Choice(["quality", "speed", "cost"]), help="Routing priority."),
        *(_OPTIONS[name] for name in _PER_KIND[kind]),
        click.option("--option", multiple=True, metavar="KEY=VALUE", help="Model option (JSON value), repeatable."),
        click.option("--callback-url", help="Webhook URL for this task."),
        click.option("--wait/--no-wait", default=True, show_default=True, help="Wait, then download the result."),
        click.option("--out", "-o", type=click.Path(), help="Where to save: a file or a directory (default: .)."),
        click.option("--timeout", type=float, help="Seconds to wait (default: per media type)."),
        click.option("--json", "as_json", is_flag=True, help="Print the task as JSON."),
    ]
    for option in reversed(options):
        decorated = option(decorated)
    return click.command(kind)(decorated)


for _kind in ("video", "image", "speech", "avatar"):
    generate.add_command(_make_generate(_kind))


# --- tasks --------------------------------------------------------------------------------------------------------


@click.group()
def tasks() -> None:
    """List, inspect, wait for, download and cancel tasks."""


@tasks.command("list")
@click.option("--status", type=click.Choice(["pending", "processing", "completed", "failed", "cancelled"]))
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(min=1), help="How many tasks.")
@click.option("--all", "all_", is_flag=True, help="Every task (all pages).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@api_command
def tasks_list(client: Client, status: str | None, limit: int, all_: bool, as_json: bool) -> None:
    """Your tasks, newest first."""
    found = client.list(status=status, page_size=100 if all_ or limit > 100 else limit, limit=None if all_ else limit)
    if as_json:
        for task in found:
            click.echo(json.dumps(task.model_dump(mode="json"), ensure_ascii=False))
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ID", "STATUS", "MODEL", "COST", "CREATED", "PROMPT"):
        table.add_column(column, no_wrap=column != "PROMPT", overflow="fold" if column == "ID" else "ellipsis")
    for task in found:
        created = task.created_at.strftime("%Y-%m-%d %H:%M:%S") if task.created_at else ""
        prompt = (task.prompt or "").replace("\n", " ")
        table.add_row(
            task.id,
            task.status + (f" {task.progress}%" if task.status == "processing" and task.progress else ""),
            task.model or "",
            "" if task.credit_cost is None else str(task.credit_cost),
            created,
            escape(prompt[:60] + ("…" if len(prompt) > 60 else "")),
        )
    _out().print(table)


@tasks.command("get")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
@api_command
def tasks_get(client: Client, task_id: str, as_json: bool) -> None:
    """Show one task."""
    task = client.get(task_id)
    if as_json:
        _json(task.model_dump(mode="json"))
    else:
        for line in _task_lines(task):
            click.echo(line)


@tasks.command("cancel")
@click.argument("task_id")
@api_command
def tasks_cancel(client: Client, task_id: str) -> None:
    """Cancel a pending or processing task (its credits are refunded)."""
    task = client.cancel(task_id)
    click.echo(f"{task.id} {task.status}")


@tasks.command("wait")
@click.argument("task_id")
@click.option("--out", "-o", type=click.Path(), help="Download the result here (a file or a directory).")
@click.option("--timeout", type=float, help="Seconds to wait (default: per media type).")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
@api_command
def tasks_wait(client: Client, task_id: str, out: str | None, timeout: float | None, as_json: bool) -> None:
    """Wait for a task to finish (and download its result with --out)."""
    task = wait_with_progress(client, client.get(task_id), timeout, "task")
    finish_task(client, task, out, as_json, download=out is not None)


@tasks.command("download")
@click.argument("task_id")
@click.option("--out", "-o", type=click.Path(), help="A file or a directory (default: .).")
@click.option("--output", "index", default=0, show_default=True, type=int, help="Which output, for multi-output tasks.")
@api_command
def tasks_download(client: Client, task_id: str, out: str | None, index: int) -> None:
    """Download the output of a completed task."""
    click.echo(str(client.download(task_id, out, output=index)))


# --- models, account ----------------------------------------------------------------------------------------------


@click.command()
@click.option("--type", "media", type=click.Choice(["video", "image", "audio", "avatar"]), help="Only this type.")
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@api_command
def models(client: Client, media: MediaType | None, as_json: bool) -> None:  # click.Choice: a MediaType
    """The models this gateway offers."""
    found = client.models(media)
    if as_json:
        _json([m.model_dump(mode="json") for m in found])
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ID", "TYPE", "PROVIDER", "TASKS", "AVAILABLE", "EST. TIME"):
        table.add_column(column, no_wrap=column in ("ID", "TYPE", "PROVIDER"))
    for m in found:
        available = "yes" if m.available else f"no ({m.unavailable_reason or 'unavailable'})"
        eta = f"{m.estimated_time:g} s" if m.estimated_time is not None else ""
        table.add_row(m.id, m.type or "", m.provider or "", ", ".join(m.task_types), escape(available), eta)
    _out().print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
@api_command
def account(client: Client, as_json: bool) -> None:
    """Your account: plan, credits, limits and usage."""
    acct = client.account()
    if as_json:
        _json(acct.model_dump(mode="json", exclude={"webhook_secret"}))
        return

    def limit(value: int | None) -> str:
        return "unlimited" if value is None else str(value)

    click.echo(f"account: {acct.id} ({acct.name})")
    click.echo(f"plan: {acct.plan}")
    click.echo(f"credits: {acct.balance} (reserved {acct.reserved})")
    click.echo(
        f"limits: {limit(acct.limits.requests_per_minute)} requests/min, "
        f"{limit(acct.limits.concurrent)} concurrent, {limit(acct.limits.daily)} tasks/day"
    )
    click.echo(f"usage: {acct.usage.in_flight} in flight, {acct.usage.today} today")
    click.echo(f"key: {acct.key.mode or '?'} ({acct.key.id})")
    if acct.webhook_url:
        click.echo(f"webhook: {acct.webhook_url}")


# --- batch -------------------------------------------------------------------------------------------------------

_FIELDS = set(GenerationParams.model_fields)
_ALIASES = {"format": "output_format", "image": "image_urls", "image_url": "image_urls", "audio": "generate_audio"}
_NUMBERS = {"duration": float, "seed": int}


def _coerce(name: str, value: Any, where: str) -> Any:
    """CSV cells are strings: turn them into the field's type."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if value == "":
        return None
    if name in _NUMBERS:
        try:
            return _NUMBERS[name](value)
        except ValueError:
            raise click.BadParameter(f"{where}: {name} must be a number, got {value!r}") from None
    if name == "generate_audio":
        return value.lower() in ("1", "true", "yes", "y", "on")
    if name == "image_urls":
        return [v for v in value.replace("|", " ").split() if v]
    if name == "options":
        try:
            return json.loads(value)
        except ValueError:
            raise click.BadParameter(f"{where}: options must be a JSON object") from None
    return value


def _item(raw: dict[str, Any], defaults: dict[str, Any], where: str, strict: bool) -> dict[str, Any]:
    item = dict(defaults)
    for key, value in raw.items():
        name = _ALIASES.get(key, key)
        if name not in _FIELDS:
            if strict:
                raise click.BadParameter(f"{where}: unknown field {key!r} (allowed: {', '.join(sorted(_FIELDS))})")
            continue
        coerced = _coerce(name, value, where)
        if name == "image_urls" and isinstance(coerced, str):
            coerced = [coerced]
        if coerced is not None:
            item[name] = coerced
    for url in item.get("image_urls") or []:
        if not is_url(url):
            raise click.BadParameter(f"{where}: image {url!r} must be an http(s) URL (upload files first)")
    if not item.get("prompt") and item.get("type") != "avatar":
        raise click.BadParameter(f"{where}: missing prompt")
    return item


def read_batch_file(path: Path, defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests from a .txt (one prompt a line), .csv (a `prompt` column …) or .jsonl file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {str(path)!r}: {exc}", param_hint="FILE") from exc
    suffix = path.suffix.lower()
    items: list[dict[str, Any]] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "prompt" not in [f.strip() for f in reader.fieldnames]:
            raise click.BadParameter(f"{path.name}: the CSV needs a header row with a 'prompt' column")
        unknown = [f for f in reader.fieldnames if _ALIASES.get(f.strip(), f.strip()) not in _FIELDS]
        if unknown:
            err.print(escape(f"note: ignoring column(s) {', '.join(unknown)}"), style="yellow")
        for n, row in enumerate(reader, start=2):
            cells = {k.strip(): v for k, v in row.items() if k is not None}
            if not any((v or "").strip() for v in cells.values()):
                continue
            items.append(_item(cells, defaults, f"{path.name}:{n}", strict=False))
    elif suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise click.BadParameter(f"{path.name}:{n}: not valid JSON ({exc})") from exc
            if isinstance(value, str):
                value = {"prompt": value}
            if not isinstance(value, dict):
                raise click.BadParameter(f"{path.name}:{n}: expected a JSON object or a string")
            items.append(_item(value, defaults, f"{path.name}:{n}", strict=True))
    elif suffix in (".txt", ".text", ""):
        for n, line in enumerate(text.splitlines(), start=1):
            prompt = line.strip()
            if prompt and not prompt.startswith("#"):
                items.append(_item({"prompt": prompt}, defaults, f"{path.name}:{n}", strict=True))
    else:
        raise click.BadParameter(f"{path.name}: use a .txt, .csv or .jsonl file", param_hint="FILE")
    if not items:
        raise click.BadParameter(f"{path.name}: no prompts found", param_hint="FILE")
    return items


def _describe_result(result: BatchResult) -> str:
    n = f"{result.index + 1:04d}"
    if result.skipped and result.ok:
        return f"[dim]↷ {n} done earlier  {result.task_id}[/dim]"
    if result.ok:
        cost = f"  {result.credit_cost} credits" if result.credit_cost is not None else ""
        file = f"  → {escape(result.file)}" if result.file else ""
        return f"[green]✓[/green] {n} completed  {result.task_id}{cost}{file}"
    code = f"{result.error_code} " if result.error_code else ""
    return f"[red]✗[/red] {n} {result.status}  {result.task_id or ''}  {escape(code + (result.error or ''))}"


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "media", type=click.Choice(["video", "image", "speech", "audio", "avatar"]), help="Media type.")
@click.option("--model", "-m", help="Model for items that name none.")
@click.option("--concurrency", "-c", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), help="Default: OUT/results.jsonl.")
@click.option("--timeout", type=float, help="Seconds to wait for each task (default: per media type).")
@click.option("--retry-failed/--no-retry-failed", default=True, show_default=True, help="Rerun failed items.")
@click.option("--no-download", is_flag=True, help="Only record the result URLs.")
@click.option("--duration", type=float)
@click.option("--resolution")
@click.option("--aspect-ratio")
@click.option("--voice")
@click.option("--format", "output_format")
@click.option("--audio/--no-audio", "generate_audio", default=None)
@api_command
def batch(
    client: Client,
    file: Path,
    media: str | None,
    model: str | None,
    concurrency: int,
    out_dir: Path,
    results: Path | None,
    timeout: float | None,
    retry_failed: bool,
    no_download: bool,
    **defaults: Any,
) -> None:
    """Generate everything in FILE (.txt: a prompt a line; .csv: a `prompt` column …; .jsonl: objects).

    Results go to OUT (files) and OUT/results.jsonl (one line per item). Rerunning the same command
    resumes: finished items are skipped, running ones are awaited, failed ones retried.
    Exit code 1 when any item did not complete.
    """
    base = {k: v for k, v in defaults.items() if v is not None}
    if media:
        base["type"] = MEDIA.get(media, media)
    if model:
        base["model"] = model
    requests = read_batch_file(file, base)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = results or out_dir / "results.jsonl"
    with _progress(counts=True) as progress:
        overall = progress.add_task(f"batch {file.name}", total=len(requests))

        def on_result(result: BatchResult) -> None:
            progress.console.print(_describe_result(result))
            progress.advance(overall)

        report = client.batch(
            requests,
            concurrency=concurrency,
            results_path=results_path,
            download_dir=None if no_download else out_dir,
            timeout=timeout,
            retry_failed=retry_failed,
            on_result=on_result,
        )
    earlier = sum(1 for r in report.results if r.skipped and r.ok)
    not_retried = sum(1 for r in report.results if r.skipped and not r.ok)
    summary = f"{len(report.results)} items: {report.completed} completed"
    if earlier:
        summary += f" ({earlier} skipped: done in an earlier run)"
    summary += f", {report.failed} failed"
    if not_retried:
        summary += f" ({not_retried} not retried)"
    click.echo(summary)
    click.echo(f"results: {results_path}")
    if report.failed:
        raise click.exceptions.Exit(EXIT_TASK_FAILED)
