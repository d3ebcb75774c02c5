"""Provider adapters: one module per vendor behind the small `ProviderAdapter` protocol."""
