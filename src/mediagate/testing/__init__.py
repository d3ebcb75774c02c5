"""Test helpers shipped with the package: vendor fakes served over real HTTP, and a server runner.

Fakes reproduce each vendor's documented wire format (paths, field names, status values, error
bodies, auth checks) so the real adapters can be exercised against them, in tests and by operators.

For unit tests of the job: `InMemoryRunner` (a runner the test steps itself) and `FakeAdapter` (an
adapter answering from a script); see `mediagate.testing.runner` and `mediagate.testing.adapter`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediagate.testing.adapter import FakeAdapter
    from mediagate.testing.runner import InMemoryRunner

__all__ = ["FakeAdapter", "InMemoryRunner"]


def __getattr__(name: str) -> Any:
    # (imported on first use: the vendor fakes under `mediagate.testing.fakes` need none of the engine)
    if name == "InMemoryRunner":
        from mediagate.testing.runner import InMemoryRunner

        return InMemoryRunner
    if name == "FakeAdapter":
        from mediagate.testing.adapter import FakeAdapter

        return FakeAdapter
    raise AttributeError(name)
