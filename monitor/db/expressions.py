"""SQL expressions written differently for each database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam
from sqlalchemy.engine import Dialect


def is_one_of(column: ColumnElement, values: Iterable, dialect: Dialect) -> ColumnElement[bool]:
    """COLUMN IN VALUES. On PostgreSQL, ``COLUMN = ANY(array)``: the list is one parameter,
    so the statement's text is the same whatever its length, and psycopg parses it once
    (an IN list is a parameter a value: each length a new statement, parsed again)."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
