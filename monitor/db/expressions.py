"""SQL expressions written differently for each database."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from monitor.normalize import INVISIBLE

_INVISIBLE = re.compile(f"[{INVISIBLE}]")


def fold_for_search(text: str | None) -> str | None:
    """Lower case (Cyrillic and Kazakh letters too) and without invisible characters: what
    a search compares. SQLite calls it as monitor_fold(); PostgreSQL computes the same."""
    return None if text is None else _INVISIBLE.sub("", text).lower()


class search_fold(FunctionElement):  # noqa: N801 (a SQL function's name)
    """fold_for_search in SQL: SQLite's own lower() and LIKE fold ASCII letters only."""

    type = String()
    inherit_cache = True


@compiles(search_fold, "sqlite")
def _fold_on_sqlite(element, compiler, **kw) -> str:
    return f"monitor_fold({compiler.process(element.clauses, **kw)})"


@compiles(search_fold, "postgresql")
def _fold_on_postgresql(element, compiler, **kw) -> str:
    return f"lower(regexp_replace({compiler.process(element.clauses, **kw)}, '[{INVISIBLE}]', '', 'g'))"


def is_one_of(column: ColumnElement, values: Iterable | None, dialect: Dialect,
              name: str | None = None) -> ColumnElement[bool]:
    """COLUMN IN VALUES. On PostgreSQL, ``COLUMN = ANY(array)``: the list is one parameter,
    so the statement's text is the same whatever its length, and psycopg parses it once
    (an IN list is a parameter a value: each length a new statement, parsed again).

    VALUES None: the list is the parameter NAME, given each time the statement runs, so
    that a statement run for every task is built once."""
    given = {} if values is None else {"value": list(values)}
    if dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type), **given))
    return column.in_(bindparam(name, expanding=True, **given))
