"""Provider adapters: one module per vendor, each a subclass of `base.Adapter` (HTTP vendors: of
`_http.HTTPAdapter`), listed in `registry.ADAPTERS`."""
