"""Process-local counters exposed at `/metrics` in the Prometheus text format (no client library)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

#: name → (help text, [(labels, value)])
Gauges = dict[str, tuple[str, list[tuple[dict[str, str], float]]]]


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self.created: Counter[tuple[str, str, str]] = Counter()  # (provider, type, mode)
        self.finished: Counter[tuple[str, str, str]] = Counter()  # (provider, status, error_code)

    def task_created(self, provider: str, media: str, mode: str) -> None:
        self.created[(provider, media, mode)] += 1

    def task_finished(self, provider: str, status: str, error_code: str | None) -> None:
        self.finished[(provider, status, error_code or "")] += 1

    def render(self, gauges: Gauges) -> str:
        lines = [
            "# HELP mediagate_tasks_created_total Tasks created by this process.",
            "# TYPE mediagate_tasks_created_total counter",
        ]
        for (provider, media, mode), n in sorted(self.created.items()):
            labels = _labels((("provider", provider), ("type", media), ("mode", mode)))
            lines.append(f"mediagate_tasks_created_total{labels} {n}")
        lines += [
            "# HELP mediagate_tasks_finished_total Tasks this process moved to a terminal state.",
            "# TYPE mediagate_tasks_finished_total counter",
        ]
        for (provider, status, code), n in sorted(self.finished.items()):
            labels = _labels((("provider", provider), ("status", status), ("error_code", code)))
            lines.append(f"mediagate_tasks_finished_total{labels} {n}")
        for name, (help_text, samples) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for sample_labels, value in samples:
                lines.append(f"{name}{_labels(sample_labels.items())} {value:g}")
        return "\n".join(lines) + "\n"
