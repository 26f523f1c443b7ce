"""Repeated measurements, their median and spread, and the one table `make bench` prints."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Sample:
    """The values one figure took over its runs."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, digits: int = 2, unit: str = "") -> str:
        """`median unit (min to max, n=k)`, or just the value when it was measured once."""
        median = f"{self.median:,.{digits}f}{unit}"
        if len(self.values) < 2:
            return median
        low, high = min(self.values), max(self.values)
        return f"{median} ({low:,.{digits}f} to {high:,.{digits}f}, n={len(self.values)})"


def sample(values: Sequence[float]) -> Sample:
    return Sample(tuple(values))


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: what ours did, what the naive loop did, and whether the goal is met."""

    figure: str
    goal: str
    ours: str
    naive: str
    ratio: str
    verdict: str


@dataclass
class Report:
    """The table and the notes under it."""

    title: str
    settings: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", *[f"- {line}" for line in self.settings], ""]
        lines += [
            "| figure | goal | ours | naive loop | ours / naive | goal met |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.figure} | {r.goal} | {r.ours} | {r.naive} | {r.ratio} | {r.verdict} |"
            for r in self.rows
        ]
        if self.notes:
            lines += ["", *[f"{number}. {note}" for number, note in enumerate(self.notes, 1)]]
        return "\n".join(lines) + "\n"


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}"
    )


def ratio(ours: float, naive: float, digits: int = 3) -> str:
    return f"{ours / naive:.{digits}f}" if naive else "—"


def verdict(met: bool, miss: str = "") -> str:
    return "yes" if met else f"**no**{': ' + miss if miss else ''}"
