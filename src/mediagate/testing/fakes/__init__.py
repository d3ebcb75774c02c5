"""Faithful fakes of vendor APIs (one module per vendor), each a Starlette app."""
