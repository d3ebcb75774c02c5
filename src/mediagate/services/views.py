"""What services return to front doors: plain typed values, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    account_id: str
    key_id: str
    mode: str  #: live | test
    plan: str

    @property
    def is_test(self) -> bool:
        return self.mode == "test"


class OutputView(BaseModel):
    url: str
    media_type: str
    format: str
    content_type: str
    bytes: int
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    expires_at: datetime | None = None


class TaskView(BaseModel):
    id: str
    status: str
    type: str
    task_type: str
    model: str  #: as the client named it
    model_id: str  #: the catalog id
    provider: str
    prompt: str
    progress: int
    credit_cost: int
    sandbox: bool
    outputs: list[OutputView]
    error_code: str | None
    error_message: str | None
    callback_url: str | None
    estimated_time: float
    request: dict[str, Any]
    attempts: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None

    def first_url(self, media_type: str) -> str | None:
        for output in self.outputs:
            if output.media_type == media_type:
                return output.url
        return None


class TaskPage(BaseModel):
    tasks: list[TaskView]
    total: int
    limit: int
    offset: int


class AccountView(BaseModel):
    id: str
    name: str
    plan: str
    balance: int
    reserved: int
    webhook_secret: str
    webhook_url: str | None
    created_at: datetime


class KeyView(BaseModel):
    id: str
    account_id: str
    prefix: str
    last4: str
    mode: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last4}"
