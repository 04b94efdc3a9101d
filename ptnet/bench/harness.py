"""Benchmark results: repeated runs, medians, and the one JSON object every bench prints.

Shape: {"bench": NAME, "scenarios": {SCENARIO: {METRIC: median, "runs": [...], ...}},
        "ratios": {"a/b": x}, "env": {...}}
"""

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptnet import __version__


@dataclass
class Scenario:
    metric: str  # the name of the median field, for example "mpps" or "boot_s"
    runs: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_json(self) -> dict[str, Any]:
        return {self.metric: round(self.median, 4), "runs": self.runs, **self.extra}


def repeat(name: str, count: int, once: Callable[[], float], metric: str) -> Scenario:
    """Run `once` `count` times, logging progress on stderr."""
    scenario = Scenario(metric)
    for i in range(count):
        value = once()
        scenario.runs.append(round(value, 4))
        print(f"ptnet bench: {name} run {i + 1}/{count}: {metric}={value:.4f}", file=sys.stderr)
    return scenario


def report(
    bench: str,
    scenarios: dict[str, Scenario],
    ratios: dict[str, tuple[str, str]] | None = None,
    env: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the result; ratios maps "a/b" to the two scenario names whose medians divide."""
    return {
        "bench": bench,
        "scenarios": {name: s.as_json() for name, s in scenarios.items()},
        "ratios": {
            label: round(scenarios[a].median / scenarios[b].median, 3)
            for label, (a, b) in (ratios or {}).items()
        },
        "env": {
            "ptnet": __version__,
            "host_kernel": platform.release(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(env or {}),
        },
    }


def emit(result: dict[str, Any], output: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if output is not None:
        output.write_text(text + "\n")
