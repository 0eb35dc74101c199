"""Server-drawn SVG charts: no script runs on the pages (the CSP forbids every script)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#97266d")
LEFT, BASELINE, PLOT_HEIGHT, PLOT_WIDTH = 30, 120, 100, 720
MIN_BAR = 2  # pixels: an hour of a cluster that lasted months is still seen


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
    """Stacked bars of posts per hour, one colour per source, each at its hour on a time axis
    (a cluster's hours with posts may lie months apart: their bars do too)."""
    if not timeline:
        return None
    sources = sorted({source for _, counts in timeline for source in counts})
    colour = {source: PALETTE[n % len(PALETTE)] for n, source in enumerate(sources)}
    peak = max(sum(counts.values()) for _, counts in timeline) or 1
    first, last = timeline[0][0], timeline[-1][0]
    hours = (last - first) / timedelta(hours=1) + 1
    step = PLOT_WIDTH / hours  # pixels an hour: the whole span fits the plot's width
    bars = []
    for hour, counts in timeline:
        top, x = float(BASELINE), round(LEFT + (hour - first) / timedelta(hours=1) * step)
        for source in sources:
            if counts.get(source):
                height = round(counts[source] / peak * PLOT_HEIGHT, 1)
                top -= height
                bars.append(Bar(x, round(top, 1), max(round(step) - 1, MIN_BAR), height, colour[source],
                                f"{hour:%Y-%m-%d %H:00} · {source}: {counts[source]}"))
    width = LEFT + max(round(step * hours), MIN_BAR)
    return TimelineChart(bars, [(source, colour[source]) for source in sources], width, peak, first, last)
