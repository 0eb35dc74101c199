"""Statements every task runs, built once for each kind of database.

Built again for every task, a statement costs its construction and its cache key, computed
again before SQLAlchemy finds its compiled form, a large share of a small task's time.
Built once, with what
changes from task to task (lists of ids, times) as parameters, it costs neither.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import (
    ARRAY,
    Connection,
    CursorResult,
    Table,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from monitor.db.expressions import is_one_of
from monitor.db.models import PostStage, Stage
from monitor.db.session import insert_for

Built = TypeVar("Built")
_BUILT: dict[tuple[str, Callable], object] = {}  # by the kind of database and the builder


def built_once(session: Session, build: Callable[[Dialect], Built]) -> Built:
    """What BUILD makes for the session's kind of database (they differ in how a list of ids
    is passed: is_one_of), made at the first call."""
    dialect = session.get_bind().dialect
    key = (dialect.name, build)
    if key not in _BUILT:
        _BUILT[key] = build(dialect)
    return _BUILT[key]


def _posts_moved(dialect: Dialect):
    return (update(PostStage.__table__).where(is_one_of(PostStage.post_id, None, dialect, "post_ids"))
            .values(stage=bindparam("stage", type_=PostStage.stage.type),
                    changed_at=bindparam("now", type_=PostStage.changed_at.type),
                    embed_claim=bindparam("claim", type_=PostStage.embed_claim.type)))


def move_posts(session: Session, post_ids: list[int], stage: Stage, now: datetime,
               claim: str | None = None) -> None:
    """Put these posts in STAGE (under an embed task's CLAIM, or none): one statement for all,
    on the session's connection. PostStage objects already in SESSION are not refreshed.

    Run by the session itself, the statement (of mapped columns) took the ORM's bulk UPDATE
    path, which looks for the rows among the session's objects to refresh them: work for
    nothing, since none of them is read again."""
    if post_ids:
        session.connection().execute(built_once(session, _posts_moved),
                                     {"post_ids": list(post_ids), "stage": stage, "now": now, "claim": claim})


class RowsInsert:
    """An INSERT of any number of rows into TABLE, built once for each set of columns given
    (FINISH completes it: RETURNING, ON CONFLICT).

    On PostgreSQL the rows go as one array a column, which the server unnests (INSERT ...
    SELECT FROM unnest): the statement's text is the same whatever the number of rows, so
    psycopg converts it once, and prepares it on the server once it has run a few times
    (psycopg's prepare_threshold). SQLAlchemy's many-row VALUES
    is a new text for every number of rows, converted and planned each time. Elsewhere, that VALUES
    form: SQLite plans a statement in microseconds, and has no arrays.

    Not for columns of bytes: psycopg sends an array of them as escaped text, and the
    embeddings' upsert took twice as long as with VALUES (they go in by COPY:
    monitor/embed/stage.py)."""

    def __init__(self, table: Table, dialect: Dialect,
                 finish: Callable[[Insert], Insert] = lambda insert: insert):
        self.table, self.dialect, self.finish = table, dialect, finish
        self.unnested = dialect.name == "postgresql"
        self._statements: dict[tuple[str, ...], Insert] = {}

    def __call__(self, connection: Connection, rows: list[dict]) -> CursorResult:
        """Insert ROWS (at least one; dicts with the same keys: the columns) on CONNECTION."""
        columns = tuple(rows[0])
        if columns not in self._statements:
            self._statements[columns] = self._built(columns)
        if self.unnested:
            return connection.execute(self._statements[columns],
                                      {name: [row[name] for row in rows] for name in columns})
        return connection.execute(self._statements[columns], rows)

    def _built(self, columns: tuple[str, ...]) -> Insert:
        statement = insert_for(self.dialect, self.table)
        if not self.unnested:
            return self.finish(statement)
        arrays = func.unnest(*(bindparam(name, type_=ARRAY(self.table.c[name].type)) for name in columns))
        rows = arrays.table_valued(*columns).render_derived()
        return self.finish(statement.from_select(columns, select(*rows.c)))
