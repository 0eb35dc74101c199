"""Timed work in several processes at once, none of it counting a process's loading.

Each process first gets ready (loads its model, opens its database...), then waits for the
others; they start their timed work together, so the span from the first start to the
last end is what they did at once, as a worker's processes do once loaded.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.synchronize import Barrier
from typing import Any, NamedTuple

# How long a process waits for the others to get ready: a model loads in seconds, and a
# process that hangs in its loading must not hold the bench for ever.
READY_TIMEOUT_SECONDS = 600


class Timed(NamedTuple):
    """One process's timed work: when it started and ended (time.perf_counter, the system's
    monotonic clock, comparable across processes) and what it returned."""

    started: float
    ended: float
    result: Any


def run_together(prepare: Callable[[Any], Any], work: Callable[[Any], Any], shares: Sequence) -> list[Timed]:
    """``work(prepare(share))`` for each of SHARES, each in a process of its own (here, for
    one share), the WORK started together once every PREPARE has returned. PREPARE and WORK
    must be module-level functions, and each share picklable: the processes are spawned,
    not forked (a parent holding threads or a GPU must not be copied)."""
    if len(shares) == 1:
        return [_timed(work, prepare(shares[0]))]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(shares), mp_context=spawn, initializer=_keep_start_line,
                             initargs=(spawn.Barrier(len(shares)),)) as pool:
        return list(pool.map(_ready_then_timed, [prepare] * len(shares), [work] * len(shares), shares))


_start_line: Barrier | None = None  # in a process of run_together's: where it waits for the others


def _keep_start_line(barrier: Barrier) -> None:
    global _start_line
    _start_line = barrier


def _ready_then_timed(prepare: Callable[[Any], Any], work: Callable[[Any], Any], share: Any) -> Timed:
    try:
        prepared = prepare(share)
    except BaseException:
        _start_line.abort()  # the others stop waiting for this one, and fail too
        raise
    _start_line.wait(READY_TIMEOUT_SECONDS)
    return _timed(work, prepared)


def _timed(work: Callable[[Any], Any], prepared: Any) -> Timed:
    started = time.perf_counter()
    result = work(prepared)
    return Timed(started, time.perf_counter(), result)
