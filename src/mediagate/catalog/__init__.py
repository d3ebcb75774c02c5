"""Models and providers as data: shipped TOML files plus operator overrides."""

from mediagate.catalog.loader import Catalog, load_catalog
from mediagate.catalog.types import Capabilities, ModelSpec, OptionSpec, PriceSpec, ProviderSpec

__all__ = ["Capabilities", "Catalog", "ModelSpec", "OptionSpec", "PriceSpec", "ProviderSpec", "load_catalog"]
