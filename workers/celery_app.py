"""The one Celery app: queues, routes and delivery guarantees in one place.

Delivery is at-least-once (acks_late, task_reject_on_worker_lost): a task whose
worker dies is redelivered, which is safe because every stage is idempotent.
"""

from __future__ import annotations

import gc
import multiprocessing
import os

from celery import Celery, signals
from kombu import Queue

from config import Settings, load_settings
from config.queues import QUEUES
from monitor import metrics
from monitor.logs import configure_logging, current_trace_id, new_trace_id


def configure(app: Celery, settings: Settings) -> None:
    """Apply settings to the app; tasks read ``app.conf.monitor_settings``."""
    app.conf.update(
        broker_url=settings.celery_broker_url,
        task_always_eager=settings.celery_always_eager,
        monitor_settings=settings,
        task_eager_propagates=True,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A pool process reports up once its init is done: an embed process loads the model
        # first, which takes longer than the default 4 s on a busy machine.
        worker_proc_alive_timeout=120,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="ingest",
        task_routes={f"monitor.{name}.*": {"queue": name} for name in QUEUES},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "poll-due-feeds": {"task": "monitor.ingest.poll_due_feeds",
                               "schedule": settings.feed_poll_seconds},
            "retry-due-webhooks": {"task": "monitor.notify.retry_due_webhooks",
                                   "schedule": settings.webhook_retry_poll_seconds},
            "remove-expired-media": {"task": "monitor.media.remove_expired_files", "schedule": 3600.0},
            "sweep-stalled": {"task": "monitor.ingest.sweep_stalled",
                              "schedule": settings.sweep_interval_seconds,
                              "args": (settings.sweep_older_than_seconds,)},
        },
    )


app = Celery("monitor", include=["workers.tasks"])
configure(app, load_settings())


# Logs, trace ids and metrics of worker and beat processes.

@signals.setup_logging.connect
def _configure_logging(**_kwargs) -> None:
    settings = app.conf.monitor_settings
    configure_logging(settings.log_level, settings.log_format)


@signals.before_task_publish.connect
def _pass_trace_id(headers=None, **_kwargs) -> None:
    # The next stage carries the trace id of the task, request or command that sent it.
    if headers is not None:
        headers.setdefault("trace_id", current_trace_id.get() or new_trace_id())


@signals.task_prerun.connect
def _take_trace_id(task=None, **_kwargs) -> None:
    offered = task.request.get("trace_id") if task else None
    if offered or current_trace_id.get() is None:  # an eager task keeps its caller's
        current_trace_id.set(new_trace_id(offered))


@signals.worker_init.connect
def _serve_metrics(**_kwargs) -> None:
    settings = app.conf.monitor_settings
    if settings.worker_metrics_port:
        metrics.serve(settings.worker_metrics_port, settings.celery_broker_url, QUEUES)


# The queues this worker consumes: known in the main process, inherited by its pool's processes.
_consumed_queues: set[str] = set()


@signals.worker_init.connect
def _prepare_pool(sender=None, **_kwargs) -> None:
    """In the main process, before it starts the pool's processes, which inherit all it holds."""
    _consumed_queues.update(sender.app.amqp.queues.consume_from)
    # Loaded here once, what the pool's processes need is shared by them; frozen,
    # so that no garbage collector writes to (and so copies) the pages of its objects.
    if "embed" in _consumed_queues:
        from monitor.embed.encoder import import_model_libraries

        import_model_libraries()
    if "ingest" in _consumed_queues:
        from monitor.language import load_language_models

        load_language_models()
    gc.freeze()


@signals.worker_process_init.connect
def _load_and_freeze(**_kwargs) -> None:
    # An embed process loads the model before it takes a task: otherwise its first post
    # waits seconds for it, and so does every post behind it.
    if "embed" in _consumed_queues:
        from monitor import runtime

        _let_start_processes()
        runtime.encoder(app.conf.monitor_settings)
    # A cluster process loads its compiled text comparisons: the first post would wait for them too.
    if "cluster" in _consumed_queues:
        from monitor.similarity import load_compiled_loops

        load_compiled_loops()
    # What the process has loaded by now (Celery, SQLAlchemy, numpy, scipy through
    # datasketch, and torch and the model in an embed process) lives as long as it does:
    # the garbage collector need not go through it again at every full collection.
    gc.freeze()


def _let_start_processes() -> None:
    """Let multiprocessing start processes from this pool process. Billiard, which runs the
    pool, marks it daemonic, and multiprocessing starts no process from a daemonic one (it
    would not wait for them as it ends); and billiard keeps its authentication key in a
    type of its own, which multiprocessing refuses to hand to a child. The tokenizer
    processes an embed process starts on a GPU end with it by themselves
    (monitor/embed/batch_tokenizer.py)."""
    pool_process = multiprocessing.current_process()
    pool_process.daemon = False
    pool_process._config["authkey"] = multiprocessing.process.AuthenticationString(pool_process.authkey)


@signals.worker_process_shutdown.connect
def _save_index_snapshot(**_kwargs) -> None:
    """A cluster process stopping saves its index: the next one starts from it."""
    if "cluster" in _consumed_queues:
        from monitor import runtime

        if (snapshots := runtime.snapshot_schedule(app.conf.monitor_settings)) is not None:
            snapshots.save()


@signals.worker_process_shutdown.connect
def _forget_process_metrics(pid=None, **_kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
