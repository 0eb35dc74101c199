"""What every task is given: the service's settings, units of work on its database and,
for the pipeline's stages, the retry policy. Tasks take it as their first argument
(``bind=True``) and stay a few lines of glue around monitor/."""

from __future__ import annotations

from contextlib import AbstractContextManager

from celery import Task
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from monitor import runtime
from monitor.db.session import unit_of_work


class MonitorTask(Task):
    @property
    def settings(self) -> Settings:
        return self.app.conf.monitor_settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        return runtime.session_factory(self.settings)

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """One transaction, committed when the block ends (the next stage is sent after it)."""
        return unit_of_work(self.sessions)


class StageTask(MonitorTask):
    """A stage of the pipeline: retried on any error. The stages are idempotent and the
    database has the truth, so a second run after a database outage or an index rebuild is
    safe. The backoff (1, 2, 4 ... 120 s) rides out an outage of several minutes; what
    outlasts it is found by the sweep (beat, every SWEEP_INTERVAL_SECONDS) from the stages
    in the database."""

    autoretry_for = (Exception,)
    retry_backoff = True
    retry_backoff_max = 120
    retry_jitter = False
    retry_kwargs = {"max_retries": 12}
