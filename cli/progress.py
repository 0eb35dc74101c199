"""How long commands show that they are working, and say what went wrong without flooding
the terminal."""

from __future__ import annotations

import re
import sys
import time
from collections import Counter

import click

SHOWN_PROBLEMS = 20
QUIET_SECONDS = 5


class Progress:
    """A bar with counts, rate and time left on a terminal (tqdm); elsewhere (a log, CI) a
    plain line every tenth of the way or every 30 seconds, once the work has taken more than
    a few seconds (a short one just ends with its summary)."""

    def __init__(self, total: int, unit: str, label: str):
        self.total, self.unit, self.label, self.done = total, unit, label, 0
        self.started = self.said_at = time.monotonic()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=f" {unit}", desc=label, file=sys.stderr, dynamic_ncols=True)

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        now = time.monotonic()
        if now - self.started < QUIET_SECONDS:
            return
        step = max(1, self.total // 10)
        crossed_a_tenth = self.done // step > (self.done - count) // step
        if self.done == self.total or crossed_a_tenth or now - self.said_at >= 30:
            self.said_at = now
            rate = self.done / max(now - self.started, 1e-9)
            left = (self.total - self.done) / rate if rate else 0
            click.echo(f"{self.label}: {self.done:,} of {self.total:,} {self.unit} ({rate:,.0f}/s, "
                       f"about {left:,.0f} s left)", err=True)

    def reach(self, done: int) -> None:
        """Show DONE of the total done (for callers that count from the start)."""
        self.update(done - self.done)

    def close(self) -> float:
        """Seconds since the start."""
        if self.bar is not None:
            self.bar.close()
        return time.monotonic() - self.started


def report_problems(where: str, problems: list) -> None:
    """The first problems one by one; the rest counted by kind ("... and 7,700 more like it")."""
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(f"{where}: {problem}", err=True)
    rest = Counter(_kind(str(getattr(problem, "message", problem))) for problem in problems[SHOWN_PROBLEMS:])
    for kind, count in rest.most_common():
        click.echo(f"{where}: ... and {count:,} more like it: {kind}", err=True)


def _kind(message: str) -> str:
    """A problem's message with its numbers and quoted values taken out, to group alike ones."""
    return re.sub(r"'[^']*'|\d+", "…", message).strip()
