"""The provider table: provider name → adapter class. Adding a vendor = one module + one line here."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from mediagate.providers.base import Adapter, ProviderContext

#: provider name (as used in the catalog) → "module:Class"
ADAPTERS: dict[str, str] = {
    "sandbox": "mediagate.providers.sandbox:SandboxAdapter",
    "piper": "mediagate.providers.local_piper:PiperAdapter",
    "seedance": "mediagate.providers.seedance:SeedanceAdapter",
    "kling": "mediagate.providers.kling:KlingAdapter",
    "minimax": "mediagate.providers.minimax:MinimaxAdapter",
    "veo": "mediagate.providers.veo:VeoAdapter",
    "runway": "mediagate.providers.runway:RunwayAdapter",
    "luma": "mediagate.providers.luma:LumaAdapter",
    "wan": "mediagate.providers.wan:WanAdapter",
    "vidu": "mediagate.providers.vidu:ViduAdapter",
    "flux": "mediagate.providers.bfl:FluxAdapter",
    "imagen": "mediagate.providers.imagen:ImagenAdapter",
    "stability": "mediagate.providers.stability:StabilityAdapter",
    "openai": "mediagate.providers.openai:OpenAIAdapter",
    "elevenlabs": "mediagate.providers.elevenlabs:ElevenLabsAdapter",
    "google-tts": "mediagate.providers.google_tts:GoogleTTSAdapter",
    "hedra": "mediagate.providers.hedra:HedraAdapter",
    "heygen": "mediagate.providers.heygen:HeyGenAdapter",
    "fal": "mediagate.providers.fal:FalAdapter",
    "replicate": "mediagate.providers.replicate:ReplicateAdapter",
}


class ProviderRegistry:
    """Creates each adapter once per process, on first use."""

    def __init__(self, context: ProviderContext, table: dict[str, str] | None = None) -> None:
        self.context = context
        self.table = dict(ADAPTERS if table is None else table)
        self._instances: dict[str, Adapter] = {}

    def names(self) -> Iterable[str]:
        return self.table.keys()

    def known(self, name: str) -> bool:
        """True when the provider is in the table and its module can be imported."""
        if name not in self.table:
            return False
        try:
            self._class(name)
        except (ImportError, AttributeError):
            return False
        return True

    def _class(self, name: str) -> type[Adapter]:
        module_name, _, class_name = self.table[name].partition(":")
        cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
        return cls

    def get(self, name: str) -> Adapter:
        adapter = self._instances.get(name)
        if adapter is None:
            adapter = self._class(name)(self.context)
            self._instances[name] = adapter
        return adapter

    def required_settings(self, name: str) -> tuple[str, ...]:
        return self._class(name).required_settings

    def missing_settings(self, name: str) -> list[str]:
        """The settings this provider still needs (empty when it is configured): the adapter decides
        (`Adapter.missing_settings`: its `required_settings`, or its alternative credentials)."""
        return self._class(name).missing_settings(self.context.settings)

    def register(self, name: str, adapter: Adapter) -> None:
        """Install an adapter instance directly (tests, embedding applications)."""
        self.table.setdefault(name, f"{type(adapter).__module__}:{type(adapter).__name__}")
        self._instances[name] = adapter
