"""The task event bus: every committed task change publishes a hint; waiters, SSE streams, GraphQL
subscriptions and the SDK subscribe to it. Hints only: the database stays the truth (see `base`)."""

from mediagate.events.base import EventBus, Subscription, TaskHint

__all__ = ["EventBus", "Subscription", "TaskHint"]
