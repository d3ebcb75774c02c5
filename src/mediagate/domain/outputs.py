"""Outputs: what a provider hands back (`OutputRef`) and what we store (`StoredOutput`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from mediagate.domain.media import MediaType


@dataclass(frozen=True)
class OutputRef:
    """One output as the provider gives it: a URL to fetch (with vendor headers) or the bytes."""

    media_type: MediaType
    url: str | None = None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    format: str | None = None  #: file extension hint: mp4, png, wav …
    width: int | None = None
    height: int | None = None
    duration: float | None = None


class StoredOutput(BaseModel):
    """One output as stored in our asset storage and shown to clients."""

    asset_id: str
    media_type: MediaType
    format: str
    content_type: str
    bytes: int
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    sandbox: bool = False
