"""Test helpers shipped with the package: vendor fakes served over real HTTP, and a server runner.

Fakes reproduce each vendor's documented wire format (paths, field names, status values, error
bodies, auth checks) so the real adapters can be exercised against them, in tests and by operators.
"""
