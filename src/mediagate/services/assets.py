"""Asset storage: outputs are copied from vendors into our storage (a local directory) and served
through signed, expiring URLs. A sweeper deletes files past their retention."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, insert, select, update

from mediagate.config import Settings
from mediagate.domain.media import CONTENT_TYPES, MediaType
from mediagate.domain.outputs import OutputRef, StoredOutput
from mediagate.errors import NotFound
from mediagate.media.integrity import CorruptMedia, check_mp4
from mediagate.media.mp4 import probe_mp4
from mediagate.media.probe import MediaInfo, probe, sniff
from mediagate.net.http import DownloadTooLarge, VendorHTTPClient
from mediagate.net.urlguard import URLGuard
from mediagate.providers.base import VendorBadRequest, VendorError, VendorServerError
from mediagate.store import prepared
from mediagate.store.db import Database
from mediagate.store.tables import Asset
from mediagate.store.types import utcnow
from mediagate.testing.crash import crash_point

#: outputs larger than this are refused (a runaway vendor URL must not fill the disk)
MAX_OUTPUT_BYTES = 2 * 1024**3
#: outputs up to this size are probed and written on the event loop, larger ones in a thread
log = logging.getLogger("mediagate.assets")

INLINE_BYTES = 256 * 1024
#: files without a live asset row are removed once this old (`AssetService.sweep_orphans`) ...
ORPHAN_AGE_SECONDS = 3600.0
#: ... by every this-many-th sweep (the first included: a restart after a crash looks at once)
ORPHAN_SWEEP_EVERY = 12
#: signed output URLs kept for repeated polls (cleared when full)
URL_CACHE_SIZE = 10_000
#: the bytes of outputs stored while a request of this process waits for their task (`awaiting`: the
#: OpenAI image and speech routes answer with the file itself) stay in memory until it takes them: at
#: most this much in all (the oldest are dropped first), and only files up to `RECENT_MAX_FILE`
RECENT_BYTES = 32 * 1024 * 1024
RECENT_MAX_FILE = 8 * 1024 * 1024

#: built once: an asset row's insert (prepared, in the transaction that completes its task) and the
#: lookup behind every signed file URL
INSERT_ASSET = insert(Asset)
_assets = Asset.__table__.c
ASSET_BY_ID = select(_assets.path, _assets.content_type, _assets.bytes, _assets.deleted_at).where(
    _assets.id == bindparam("asset_id")
)


@dataclass(slots=True)
class AssetRow:
    """The values of one `assets` row, inserted with the prepared `INSERT_ASSET` (building an ORM `Asset`
    for a row that is only inserted cost more than the insert)."""

    id: str
    account_id: str
    task_id: str | None
    kind: str
    path: str
    media_type: str
    content_type: str
    format: str
    bytes: int
    width: int | None
    height: int | None
    duration: float | None
    sandbox: bool
    created_at: datetime
    expires_at: datetime

    def values(self) -> dict[str, Any]:
        """The insert's parameters; NULL columns are left out (as the ORM insert did)."""
        return {f: v for f in ASSET_FIELDS if (v := getattr(self, f)) is not None}


ASSET_FIELDS = tuple(f.name for f in fields(AssetRow))


def _read_bytes(path: Path) -> bytes:
    return path.read_bytes()


class AssetService:
    def __init__(self, settings: Settings, db: Database, http: httpx.AsyncClient, guard: URLGuard) -> None:
        self.guard = guard
        self.settings = settings
        self.db = db
        self.http = http
        self.root = settings.assets_dir
        self._dirs: set[Path] = set()  #: directories known to exist
        self._urls: dict[tuple[str, str, int], str] = {}  #: signed URLs made lately
        #: asset id → (bytes, content type) of outputs stored for a waiting request (see `RECENT_BYTES`)
        self._recent: dict[str, tuple[bytes, str]] = {}
        self._recent_size = 0
        #: task id → the asset ids kept for it, while a request waits for the task (`awaiting`)
        self._awaited: dict[str, list[str]] = {}
        self._sweeps = 0

    # --- signing -------------------------------------------------------------------------------

    def _signature(self, asset_id: str, expires: int) -> str:
        return hmac.new(self.settings.signing_key, f"{asset_id}.{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, asset_id: str, fmt: str, expires_at: datetime) -> str:
        expires = int(expires_at.timestamp())
        key = (asset_id, fmt, expires)
        url = self._urls.get(key)
        if url is None:
            # (clients poll finished tasks: the same signed URL is asked for again and again)
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = f"{self.settings.base_url}/files/{asset_id}.{fmt}?expires={expires}&signature={self._signature(asset_id, expires)}"
            self._urls[key] = url
        return url

    def check_signature(self, asset_id: str, expires: int, signature: str) -> bool:
        # (compare_digest refuses non-ASCII text with a TypeError: such a signature is simply not ours)
        return signature.isascii() and hmac.compare_digest(self._signature(asset_id, expires), signature)

    def own_asset_id(self, url: str) -> str | None:
        """The asset id when `url` is one of our valid signed file URLs, else None."""
        from urllib.parse import parse_qs, urlsplit

        prefix = f"{self.settings.base_url}/files/"
        if not url.startswith(prefix):
            return None
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        asset_id = parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        try:
            expires = int(query.get("expires", ["0"])[0])
        except ValueError:
            return None
        signature = query.get("signature", [""])[0]
        if not self.check_signature(asset_id, expires, signature) or expires < int(utcnow().timestamp()):
            return None
        return asset_id

    async def check_input_url(self, url: str, field: str) -> None:
        """Request-time check of a URL the server (or an adapter) may fetch: ours, or public."""
        from mediagate.errors import InvalidParameter
        from mediagate.net.urlguard import UnsafeURL

        if self.own_asset_id(url) is not None:
            return
        if url.startswith(f"{self.settings.base_url}/files/"):
            raise InvalidParameter(f"{field}: this file link is invalid or has expired", field=field)
        try:
            await self.guard.check(url, unresolvable_ok=True)
        except UnsafeURL as exc:
            raise InvalidParameter(f"{field} is not allowed: {exc}", field=field) from exc

    async def fetch_input(self, url: str) -> tuple[bytes, str | None]:
        """Bytes of an input file: our own uploads from disk, anything else through the URL guard."""
        from mediagate.net.urlguard import UnsafeURL

        asset_id = self.own_asset_id(url)
        if asset_id is not None:
            row = await self.db.fetch_one(ASSET_BY_ID, {"asset_id": asset_id})
            if row is None or row["deleted_at"] is not None:
                raise VendorServerError("input file has expired")
            return await self._read_file(self.root / row["path"], row["bytes"]), row["content_type"]
        try:
            return await self.guard.fetch(self.http, url, max_bytes=self.settings.upload_max_bytes)
        except UnsafeURL as exc:
            from mediagate.providers.base import VendorBadRequest

            raise VendorBadRequest(f"input {url[:100]} refused: {exc}") from exc

    async def upload(self, account_id: str, data: bytes) -> tuple[AssetRow, str]:
        """Store a client's image upload (PNG/JPEG/WebP, validated by content); returns (row, URL)."""
        from mediagate.media.images import validate_image

        info = await asyncio.to_thread(validate_image, data, self.settings.upload_max_pixels)
        stored, row = await self.save(
            data, account_id=account_id, task_id=None, kind="upload", media_type=MediaType.IMAGE, format_hint=info
        )
        try:
            async with self.db.write(core=True) as session:
                await prepared.execute(session, INSERT_ASSET, row.values())
        except BaseException:
            self.discard([row])
            raise
        return row, self.url(row.id, stored.format, row.expires_at)

    # --- storing -------------------------------------------------------------------------------

    def expiry(self) -> datetime:
        return utcnow() + timedelta(hours=self.settings.asset_retention_hours)

    async def fetch(self, ref: OutputRef) -> bytes:
        """The output's bytes: inline data, or downloaded from the vendor's (expiring) URL."""
        if ref.data is not None:
            return ref.data
        if ref.url is None:
            raise VendorServerError("provider returned an output with neither data nor URL")
        try:
            if isinstance(self.http, VendorHTTPClient):
                response = await self.http.download(ref.url, headers=ref.headers, max_bytes=MAX_OUTPUT_BYTES)
                crash_point("during_download")
                if response.status_code >= 400:
                    raise VendorServerError(
                        f"downloading the output failed: HTTP {response.status_code}", status=response.status_code
                    )
                return response.content
            async with self.http.stream("GET", ref.url, headers=ref.headers, follow_redirects=True) as streamed:
                if streamed.status_code >= 400:
                    raise VendorServerError(
                        f"downloading the output failed: HTTP {streamed.status_code}", status=streamed.status_code
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in streamed.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        raise DownloadTooLarge(ref.url)
                    chunks.append(chunk)
                    crash_point("during_download")
                return b"".join(chunks)
        except DownloadTooLarge as exc:
            raise VendorBadRequest("output is larger than the 2 GiB limit") from exc  # (never retried)
        except VendorError:
            raise
        except httpx.HTTPError as exc:
            raise VendorServerError(f"downloading the output failed: {exc.__class__.__name__}") from exc

    def _write(self, path: Path, data: bytes) -> None:
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            if len(self._dirs) > 1000:
                self._dirs.clear()
            self._dirs.add(path.parent)
        # written in place, under a fresh name ("x": never an existing file): nothing reads a file before
        # its row is committed, and the row is inserted only after this returns, so a temporary name and
        # a rename (one more syscall per output) protected nothing; a failed write leaves no file
        try:
            with open(path, "xb") as out:
                out.write(data)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise

    async def save(
        self,
        data: bytes,
        *,
        account_id: str,
        task_id: str | None,
        kind: str,
        media_type: MediaType,
        format_hint: str | None = None,
        sandbox: bool = False,
        ref: OutputRef | None = None,
    ) -> tuple[StoredOutput, AssetRow]:
        """Write the file and describe it; the caller inserts the returned row in its transaction
        (`INSERT_ASSET`), or `discard`s it. While a request of this process waits for the task
        (`awaiting`), the bytes stay in memory for it too (`read`).

        An output must be a complete file of its format (`probe(strict=True)`, `media/integrity.py`):
        half a file, sent as if it were all of it, raises `VendorServerError` naming the format and what
        is wrong, before anything is written. A client's upload was checked (fully decoded) by
        `validate_image` already, and is not judged again."""
        strict = kind != "upload"
        # small files are probed and written on the loop: a thread hop (and winning the GIL back from
        # the thread) costs more than the work; large ones, and PyAV, go to a thread
        try:
            if len(data) <= INLINE_BYTES:
                info = probe(data, format_hint, strict=strict)
            elif sniff(data) == "mp4" and (found := probe_mp4(data)) is not None:
                if strict:
                    check_mp4(data)  # (the top-level boxes: microseconds, whatever the size)
                info = MediaInfo("mp4", *found)
            else:
                info = await asyncio.to_thread(probe, data, format_hint, strict=strict)
        except CorruptMedia as exc:
            raise VendorServerError(f"the provider's output is unusable: {exc}") from exc
        fmt = info.format if info.format != "bin" else (format_hint or "bin")
        asset_id = str(uuid.uuid4())
        now = utcnow()
        relative = Path(now.strftime("%Y/%m/%d")) / f"{asset_id}.{fmt}"
        if len(data) <= INLINE_BYTES:
            self._write(self.root / relative, data)
        else:
            await asyncio.to_thread(self._write, self.root / relative, data)
        content_type = CONTENT_TYPES.get(fmt, "application/octet-stream")
        width = info.width or (ref.width if ref else None)
        height = info.height or (ref.height if ref else None)
        duration = info.duration or (ref.duration if ref else None)
        row = AssetRow(
            asset_id,
            account_id,
            task_id,
            kind,
            str(relative),
            media_type.value,
            content_type,
            fmt,
            len(data),
            width,
            height,
            duration,
            sandbox,
            now,
            now + timedelta(hours=self.settings.asset_retention_hours),
        )
        if task_id is not None and (kept := self._awaited.get(task_id)) is not None and len(data) <= RECENT_MAX_FILE:
            kept.append(asset_id)
            self._remember(asset_id, data, content_type)
        stored = StoredOutput.model_construct(
            asset_id=asset_id,
            media_type=media_type,
            format=fmt,
            content_type=content_type,
            bytes=len(data),
            width=width,
            height=height,
            duration=duration,
            sandbox=sandbox,
        )
        return stored, row

    def discard(self, rows: list[AssetRow]) -> None:
        for row in rows:
            self._forget(row.id)
            (self.root / row.path).unlink(missing_ok=True)

    @contextlib.contextmanager
    def awaiting(self, task_ids: list[str]) -> Iterator[None]:
        """While inside, outputs stored for these tasks in this process also stay in memory, for `read`
        (a request that waits for its tasks and then answers with their files); whatever it did not read
        is dropped on leaving."""
        for task_id in task_ids:
            self._awaited.setdefault(task_id, [])
        try:
            yield
        finally:
            for task_id in task_ids:
                for asset_id in self._awaited.pop(task_id, ()):
                    self._forget(asset_id)

    def _remember(self, asset_id: str, data: bytes, content_type: str) -> None:
        self._recent[asset_id] = (data, content_type)
        self._recent_size += len(data)
        while self._recent_size > RECENT_BYTES:  # the oldest first (dicts keep insertion order)
            self._forget(next(iter(self._recent)))

    def _forget(self, asset_id: str) -> tuple[bytes, str] | None:
        found = self._recent.pop(asset_id, None)
        if found is not None:
            self._recent_size -= len(found[0])
        return found

    async def _read_file(self, path: Path, size: int) -> bytes:
        # (small files on the loop, as they are written: the thread hop costs more than the read)
        return _read_bytes(path) if size <= INLINE_BYTES else await asyncio.to_thread(_read_bytes, path)

    # --- serving -------------------------------------------------------------------------------

    def _check_link(self, asset_id: str, expires: int, signature: str) -> None:
        if not self.check_signature(asset_id, expires, signature) or expires < int(utcnow().timestamp()):
            raise NotFound("File not found or link expired")

    async def _lookup(self, asset_id: str) -> tuple[Path, str, int]:
        # (a prepared point read: behind every file download, and every OpenAI answer with the file)
        row = await self.db.fetch_one(ASSET_BY_ID, {"asset_id": asset_id})
        if row is None or row["deleted_at"] is not None:
            raise NotFound("File not found or link expired")
        return self.root / row["path"], row["content_type"], row["bytes"]

    async def open(self, asset_id: str, expires: int, signature: str) -> tuple[Path, str]:
        """The file behind a signed URL, or NOT_FOUND (bad signature, expired or swept)."""
        self._check_link(asset_id, expires, signature)
        path, content_type, _ = await self._lookup(asset_id)
        if not path.exists():
            raise NotFound("File not found or link expired")
        return path, content_type

    async def read(self, asset_id: str, expires: int, signature: str) -> tuple[bytes, str]:
        """The bytes behind a signed URL and their content type, or NOT_FOUND (as `open`).

        An output stored in this process while a request was `awaiting` its task is taken from memory,
        once (that request); anything else is read from the file. A kept output's row is committed with its
        task (every asset id a client can name comes from a committed task), its link is checked here,
        and an unexpired asset is never swept, so memory and file always agree."""
        self._check_link(asset_id, expires, signature)
        kept = self._forget(asset_id)
        if kept is not None:
            return kept
        path, content_type, size = await self._lookup(asset_id)
        try:
            return await self._read_file(path, size), content_type
        except FileNotFoundError as exc:
            raise NotFound("File not found or link expired") from exc

    async def sweep(self) -> int:
        """Delete expired files (and, every `ORPHAN_SWEEP_EVERY`-th run, orphaned ones: `sweep_orphans`);
        returns how many were removed."""
        self._sweeps += 1
        removed = await self._sweep_expired()
        if self._sweeps % ORPHAN_SWEEP_EVERY == 1:
            removed += await self.sweep_orphans()
        return removed

    async def sweep_orphans(self, *, older_than: float = ORPHAN_AGE_SECONDS) -> int:
        """Delete stored files that no live asset row describes, once `older_than` seconds old.

        An output is written before the transaction that inserts its row commits (`save`, then the
        completing transaction): a process killed in between leaves a file nothing points to — the job
        runs again and stores the output anew — and the expiry sweep, which works from rows, would never
        remove it. The age keeps files whose row is about to be committed (by any process) out of it."""
        cutoff = time.time() - older_than

        def scan() -> list[Path]:
            found: list[Path] = []
            if not self.root.is_dir():
                return found
            for day in self.root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]"):
                with contextlib.suppress(OSError):
                    for entry in os.scandir(day):
                        with contextlib.suppress(OSError):
                            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                                found.append(Path(entry.path))
            return found

        candidates = await asyncio.to_thread(scan)
        removed = 0
        for start in range(0, len(candidates), 500):
            batch = {path.name.split(".", 1)[0]: path for path in candidates[start : start + 500]}
            async with self.db.read() as session:
                live = set(
                    (
                        await session.scalars(
                            select(Asset.id).where(Asset.id.in_(list(batch)), Asset.deleted_at.is_(None))
                        )
                    ).all()
                )
            for asset_id, path in batch.items():
                if asset_id not in live:
                    await asyncio.to_thread(path.unlink, True)
                    removed += 1
        if removed:
            log.warning("removed %d stored file(s) without an asset row (left by a crash)", removed)
        return removed

    async def _sweep_expired(self) -> int:
        now = utcnow()
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(Asset).where(Asset.expires_at < now, Asset.deleted_at.is_(None)).limit(1000)
                )
            ).all()
        for row in rows:
            await asyncio.to_thread((self.root / row.path).unlink, True)
        if rows:
            async with self.db.write() as session:
                await session.execute(update(Asset).where(Asset.id.in_([r.id for r in rows])).values(deleted_at=now))
        return len(rows)
