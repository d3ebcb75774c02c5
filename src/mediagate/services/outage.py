"""A database outage seen from the API: `503 SERVICE_UNAVAILABLE` with `Retry-After`, not a crash.

The front doors call `as_outage` on an error no handler claimed; each answers the result in its own
dialect. Nothing was written (the transaction rolled back), so the request can simply be repeated —
with the same `Idempotency-Key` for creations, which the SDK does by itself.
"""

from __future__ import annotations

import logging

from mediagate.errors import ServiceUnavailable
from mediagate.store.errors import is_transient

log = logging.getLogger("mediagate.api")

#: seconds a client is asked to wait before repeating the request
RETRY_AFTER_SECONDS = 1


def as_outage(exc: BaseException) -> ServiceUnavailable | None:
    """`ServiceUnavailable` for a database that did not answer (pool timeout, lost connection, locked),
    None for anything else."""
    if not is_transient(exc):
        return None
    log.warning("database unavailable: %s", exc)
    return ServiceUnavailable(
        "The service is temporarily unavailable (its database did not answer); retry the request shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
