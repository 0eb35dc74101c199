"""SQL expressions written differently for each database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam
from sqlalchemy.engine import Dialect


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
