"""The benchmarks' processes start their timed work together, and a process that cannot get
ready fails the run instead of leaving the others waiting."""

import os
import threading
import time

import pytest

from bench.together import run_together


def sleep_then_note(seconds: float) -> float:
    """Get ready slowly; when this process was ready."""
    time.sleep(seconds)
    return time.perf_counter()


def fail_if_asked(share: str) -> str:
    if share == "broken":
        raise ValueError("this process cannot load its model")
    return share


def ready_at_and_pid(ready_at):
    return ready_at, os.getpid()


def test_every_process_starts_its_work_once_the_slowest_one_is_ready():
    spans = run_together(sleep_then_note, ready_at_and_pid, [0.0, 1.5])

    assert len({span.result[1] for span in spans} | {os.getpid()}) == 3  # processes of their own
    slowest_ready = max(span.result[0] for span in spans)
    assert min(span.started for span in spans) >= slowest_ready
    assert all(span.started <= span.ended for span in spans)


def test_one_share_runs_in_this_process():
    [span] = run_together(sleep_then_note, ready_at_and_pid, [0.0])

    assert span.result[1] == os.getpid() and span.result[0] <= span.started


def test_a_process_that_cannot_get_ready_fails_the_run_and_the_others_stop_waiting():
    raised = []

    def run() -> None:
        with pytest.raises(ValueError, match="cannot load its model") as error:
            run_together(fail_if_asked, str.upper, ["broken", "fine", "fine"])
        raised.append(error.value)

    # Left waiting, the others would hold the run for the barrier's ten minutes.
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive() and raised
