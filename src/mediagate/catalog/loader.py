"""Loading the catalog: the shipped files, then operator files overriding by model id."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

from mediagate.catalog.types import ModelSpec, ProviderSpec
from mediagate.domain.media import MediaType


def _normalize(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


class Catalog:
    """All known models and providers, with alias lookup."""

    def __init__(self, providers: Iterable[ProviderSpec], models: Iterable[ModelSpec]) -> None:
        self.providers: dict[str, ProviderSpec] = {p.name: p for p in providers}
        self.models: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        for model in models:
            self.models[model.id] = model
        for model in self.models.values():
            for alias in (model.id, *model.aliases):
                self._aliases[_normalize(alias)] = model.id

    def resolve(self, name: str) -> ModelSpec | None:
        model_id = self._aliases.get(_normalize(name))
        return self.models.get(model_id) if model_id else None

    def enabled_models(self, media: MediaType | None = None) -> list[ModelSpec]:
        return [
            m
            for m in self.models.values()
            if m.enabled
            and self.providers.get(m.provider, ProviderSpec(name=m.provider)).enabled
            and (media is None or m.type is media)
        ]

    def models_of(self, provider: str) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.provider == provider]


def _read(path: Path | Any) -> dict[str, Any]:
    with path.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    return data


def load_catalog(extra_dir: Path | None = None, *, disabled_providers: Iterable[str] = ()) -> Catalog:
    """Shipped files first; files in `extra_dir` add models or replace them by id."""
    sources: list[Any] = sorted(
        (f for f in files("mediagate.catalog").joinpath("data").iterdir() if f.name.endswith(".toml")),
        key=lambda f: f.name,
    )
    if extra_dir is not None and extra_dir.is_dir():
        sources.extend(sorted(extra_dir.glob("*.toml")))
    providers: dict[str, ProviderSpec] = {}
    models: dict[str, ModelSpec] = {}
    for source in sources:
        data = _read(source)
        for raw in data.get("providers", []):
            spec = ProviderSpec.model_validate(raw)
            providers[spec.name] = spec
        for raw in data.get("models", []):
            model = ModelSpec.model_validate(raw)
            models[model.id] = model
    for name in disabled_providers:
        if name in providers:
            providers[name] = providers[name].model_copy(update={"enabled": False})
    return Catalog(providers.values(), models.values())
