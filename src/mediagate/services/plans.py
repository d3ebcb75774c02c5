"""Plans as data: the seed's Free / Starter / Pro / Enterprise, overridable in config."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mediagate.errors import InvalidParameter


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    #: requests per minute per API key (all authenticated requests); None = unlimited
    rpm: int | None
    #: tasks in flight (pending or processing) per account; None = unlimited
    concurrent: int | None
    #: tasks created per UTC day per account; None = unlimited
    daily: int | None
    #: optional separate per-minute limits for task creation and for queries (per key)
    create_rpm: int | None = None
    query_rpm: int | None = None


DEFAULT_PLANS: dict[str, Plan] = {
    "free": Plan(name="free", rpm=10, concurrent=1, daily=100),
    "starter": Plan(name="starter", rpm=30, concurrent=3, daily=1_000),
    "pro": Plan(name="pro", rpm=60, concurrent=10, daily=10_000),
    "enterprise": Plan(name="enterprise", rpm=None, concurrent=None, daily=None),
}


class PlanBook:
    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None, default: str = "free") -> None:
        self.plans = dict(DEFAULT_PLANS)
        for name, raw in (overrides or {}).items():
            base = self.plans.get(name)
            merged = {**(base.model_dump() if base else {"rpm": None, "concurrent": None, "daily": None}), **raw}
            merged["name"] = name
            self.plans[name] = Plan.model_validate(merged)
        if default not in self.plans:
            raise ValueError(f"default plan {default!r} is not defined")
        self.default = default

    def get(self, name: str, override: dict[str, Any] | None = None) -> Plan:
        plan = self.plans.get(name)
        if plan is None:
            raise InvalidParameter(f"Unknown plan '{name}'. Allowed: {', '.join(self.plans)}", field="plan")
        if override:
            plan = Plan.model_validate({**plan.model_dump(), **override})
        return plan
