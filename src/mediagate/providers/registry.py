"""The provider table: provider name → adapter class. Adding a vendor = one module + one line here."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from mediagate.providers.base import ProviderAdapter, ProviderContext

#: provider name (as used in the catalog) → "module:Class"
ADAPTERS: dict[str, str] = {
    "sandbox": "mediagate.providers.sandbox:SandboxAdapter",
    "piper": "mediagate.providers.local_piper:PiperAdapter",
    "seedance": "mediagate.providers.seedance:SeedanceAdapter",
}


class ProviderRegistry:
    """Creates each adapter once per process, on first use."""

    def __init__(self, context: ProviderContext, table: dict[str, str] | None = None) -> None:
        self.context = context
        self.table = dict(ADAPTERS if table is None else table)
        self._instances: dict[str, ProviderAdapter] = {}

    def names(self) -> Iterable[str]:
        return self.table.keys()

    def known(self, name: str) -> bool:
        return name in self.table

    def get(self, name: str) -> ProviderAdapter:
        adapter = self._instances.get(name)
        if adapter is None:
            module_name, _, class_name = self.table[name].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            adapter = cls(self.context)
            self._instances[name] = adapter
        return adapter

    def required_settings(self, name: str) -> tuple[str, ...]:
        module_name, _, class_name = self.table[name].partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        required: tuple[str, ...] = cls.required_settings
        return required

    def missing_settings(self, name: str) -> list[str]:
        """The settings this provider still needs (empty when it is configured)."""
        settings = self.context.settings
        return [s for s in self.required_settings(name) if settings.secret(s) is None]

    def register(self, name: str, adapter: ProviderAdapter) -> None:
        """Install an adapter instance directly (tests, embedding applications)."""
        self.table.setdefault(name, f"{type(adapter).__module__}:{type(adapter).__name__}")
        self._instances[name] = adapter
