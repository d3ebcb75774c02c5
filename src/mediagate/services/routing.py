"""Choosing the model (and so the provider) for a request.

A request names a model, a provider, or only a type. With a model, that model is used. Otherwise
the candidates are the enabled models of that type (and provider, if named) whose capabilities fit
the request and whose provider is configured; they are ordered by `priority`:
QUALITY (highest quality score), SPEED (lowest expected seconds), COST (lowest price for these
options), ties broken by model id. Provider weights from the catalog scale the scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mediagate.catalog import Catalog, ModelSpec
from mediagate.domain.media import Priority
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.errors import InvalidParameter, MediagateError, ProviderUnavailable
from mediagate.services.health import ProviderHealth
from mediagate.services.validation import price, validate


@dataclass(frozen=True)
class Candidate:
    model: ModelSpec
    request: GenerationRequest
    credits: int


def setting_env(name: str) -> str:
    return f"MEDIAGATE_{name.upper()}"


class Router:
    def __init__(
        self,
        catalog: Catalog,
        missing_settings: Callable[[str], list[str]],
        health: ProviderHealth | None = None,
        *,
        weights: dict[str, float] | None = None,
        pins: dict[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.missing_settings = missing_settings
        self.health = health or ProviderHealth()
        self.weights = weights or {}
        self.pins = pins or {}

    def unavailable_reason(self, provider: str) -> str | None:
        missing = self.missing_settings(provider)
        if missing:
            return f"Provider '{provider}' is not configured: set {', '.join(setting_env(m) for m in missing)}"
        if not self.health.available(provider):
            return (
                f"Provider '{provider}' is failing (circuit open); retry in {self.health.retry_after(provider)} s "
                "or let mediagate choose a provider"
            )
        return None

    def candidates(self, inp: GenerationInput, *, test_mode: bool) -> list[Candidate]:
        """Every model that can serve `inp`, best first. Raises when there is none."""
        model_name, provider = inp.model, inp.provider
        if provider and provider not in self.catalog.providers and model_name is None:
            aliased = self.catalog.resolve(provider)  # clients often name a model as the provider
            if aliased is None:
                raise InvalidParameter(
                    f"Unknown provider '{provider}'. Available providers: {', '.join(sorted(self.catalog.providers))}",
                    field="provider",
                )
            model_name, provider = provider, None
        if model_name is not None:
            model = self.catalog.resolve(model_name)
            if model is None or not model.enabled:
                names = ", ".join(sorted(m.id for m in self.catalog.enabled_models()))
                raise InvalidParameter(f"Unknown model '{model_name}'. Available models: {names}", field="model")
            if provider and provider != model.provider:
                raise InvalidParameter(
                    f"model '{model.id}' is served by provider '{model.provider}', not '{provider}'", field="provider"
                )
            request = validate(inp.model_copy(update={"model": model_name}), model)
            if not test_mode and (reason := self.unavailable_reason(model.provider)):
                raise ProviderUnavailable(reason)
            return [Candidate(model, request, price(model, request))]

        if inp.type is None and provider is None:
            missing = ["model"] + ([] if (inp.prompt or "").strip() else ["prompt"])
            raise InvalidParameter(f"Missing required parameters: {', '.join(missing)}", field="model")
        pinned = self.pins.get(inp.type.value) if inp.type is not None and provider is None else None
        pool = [
            m
            for m in self.catalog.enabled_models(inp.type)
            if (provider is None or m.provider == provider) and (pinned is None or m.provider == pinned)
        ]
        fitting: list[Candidate] = []
        first_error: MediagateError | None = None
        unavailable: list[str] = []
        for model in pool:
            try:
                request = validate(inp, model)
                credits = price(model, request)
            except InvalidParameter as exc:
                first_error = first_error or exc
                continue
            if not test_mode and (reason := self.unavailable_reason(model.provider)):
                unavailable.append(reason)
                continue
            fitting.append(Candidate(model, request, credits))
        if not fitting:
            if unavailable:
                raise ProviderUnavailable(
                    "No configured provider can serve this request. " + "; ".join(sorted(set(unavailable)))
                )
            if first_error is not None and len(pool) == 1:
                raise first_error
            what = f"type '{inp.type.value}'" if inp.type else f"provider '{provider}'"
            raise InvalidParameter(
                f"No model of {what} accepts these parameters"
                + (f" (e.g. {first_error.message})" if first_error else ""),
                field="type",
            )
        return self.rank(fitting, inp.priority or Priority.QUALITY)

    def rank(self, candidates: list[Candidate], priority: Priority) -> list[Candidate]:
        def weight(c: Candidate) -> float:
            spec = self.catalog.providers.get(c.model.provider)
            return self.weights.get(c.model.provider, spec.weight if spec else 1.0)

        if priority is Priority.QUALITY:
            return sorted(candidates, key=lambda c: (-c.model.quality * weight(c), c.model.id))
        if priority is Priority.SPEED:
            return sorted(candidates, key=lambda c: (c.model.speed / weight(c), c.model.id))
        return sorted(candidates, key=lambda c: (c.credits / weight(c), c.model.id))
