"""Server-drawn SVG charts: no script runs on the pages (the CSP forbids every script)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#97266d")
LEFT, BASELINE, PLOT_HEIGHT, PLOT_WIDTH = 30, 120, 100, 720


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    width: int
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class TimelineChart:
    bars: list[Bar]
    legend: list[tuple[str, str]]  # (source, colour)
    width: int
    peak: int
    first: datetime
    last: datetime


def timeline_chart(timeline: list[tuple[datetime, dict[str, int]]]) -> TimelineChart | None:
    """Stacked bars of posts per hour, one colour per source."""
    if not timeline:
        return None
    sources = sorted({source for _, counts in timeline for source in counts})
    colour = {source: PALETTE[n % len(PALETTE)] for n, source in enumerate(sources)}
    peak = max(sum(counts.values()) for _, counts in timeline) or 1
    step = max(PLOT_WIDTH // len(timeline), 4)
    bars = []
    for n, (hour, counts) in enumerate(timeline):
        top = float(BASELINE)
        for source in sources:
            if counts.get(source):
                height = round(counts[source] / peak * PLOT_HEIGHT, 1)
                top -= height
                bars.append(Bar(LEFT + n * step, round(top, 1), max(step - 1, 1), height, colour[source],
                                f"{hour:%Y-%m-%d %H:00} · {source}: {counts[source]}"))
    return TimelineChart(bars, [(source, colour[source]) for source in sources],
                         LEFT + step * len(timeline), peak, timeline[0][0], timeline[-1][0])
