"""Per-provider circuit breakers.

closed ──(N consecutive failures)──► open ──(cool-down elapsed)──► half-open ──success──► closed
                                       ▲                               │
                                       └────────────failure────────────┘

Failures are vendor-side ones seen by the engine before a vendor accepted a job (5xx, timeouts,
rate limits after retries, refused credentials). State is per process; in scale-out mode each
process learns on its own (documented in docs/routing.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False
    last_error: str | None = None
    successes: int = 0
    total_failures: int = 0


class ProviderHealth:
    def __init__(self, threshold: int = 5, cooldown: float = 30.0, clock: Any = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.circuits: dict[str, Circuit] = {}

    def _get(self, provider: str) -> Circuit:
        return self.circuits.setdefault(provider, Circuit())

    def state(self, provider: str) -> str:
        circuit = self._get(provider)
        if circuit.opened_at is None:
            return "closed"
        if self.clock() - circuit.opened_at >= self.cooldown:
            return "half_open"
        return "open"

    def allow(self, provider: str) -> bool:
        """May a new job be sent to this provider now? (half-open lets one trial through)"""
        state = self.state(provider)
        if state == "closed":
            return True
        if state == "half_open" and not self._get(provider).trial_in_flight:
            self._get(provider).trial_in_flight = True
            return True
        return False

    def available(self, provider: str) -> bool:
        """Like `allow` without taking the half-open trial slot (for listing and ranking)."""
        return self.state(provider) != "open"

    def retry_after(self, provider: str) -> int:
        circuit = self._get(provider)
        if circuit.opened_at is None:
            return 0
        return max(1, int(self.cooldown - (self.clock() - circuit.opened_at)) + 1)

    def success(self, provider: str) -> None:
        circuit = self._get(provider)
        circuit.failures = 0
        circuit.opened_at = None
        circuit.trial_in_flight = False
        circuit.successes += 1

    def failure(self, provider: str, error: str) -> None:
        circuit = self._get(provider)
        circuit.failures += 1
        circuit.total_failures += 1
        circuit.last_error = error[:300]
        if circuit.trial_in_flight or circuit.failures >= self.threshold:
            circuit.opened_at = self.clock()
        circuit.trial_in_flight = False

    def snapshot(self, provider: str) -> dict[str, Any]:
        circuit = self._get(provider)
        return {
            "circuit": self.state(provider),
            "consecutive_failures": circuit.failures,
            "total_failures": circuit.total_failures,
            "successes": circuit.successes,
            "last_error": circuit.last_error,
            "retry_after": self.retry_after(provider) if self.state(provider) == "open" else None,
        }
