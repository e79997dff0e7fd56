"""Prepared single-row statements for the trigger and run hot paths.

Building a query through the ORM costs more than running it: compiling a one-row SELECT,
INSERT or UPDATE takes 0.1-0.2 ms of Python, against 0.01-0.05 ms in SQLite or on a warm
PostgreSQL connection, and a trigger makes three of them. These helpers compile each
statement shape once per database alias and then only convert values, using the model's
own fields both ways (`get_db_prep_save` to write, the backend's and the field's
converters to read), so encryption, JSON and datetime handling stay the ORM's.

Use them only where a benchmark shows the difference; everywhere else, use the ORM.
"""

from collections.abc import Iterable

from django.db import connections, models

_sql: dict[tuple, tuple] = {}


def _columns(model: type[models.Model], names: Iterable[str]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in names]


def _where(fields: list[models.Field], quote) -> str:
    return " AND ".join(f"{quote(f.column)} = %s" for f in fields)


# Fields whose conversion gives back a value of this type unchanged, on every backend: a
# run's INSERT has a dozen of them, each a chain of four calls otherwise.
_PLAIN = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.BigIntegerField: int,
    models.ForeignKey: int,
    models.BooleanField: bool,
}


def _params(fields: list[models.Field], values: Iterable, connection) -> list:
    return [
        v if type(v) is _PLAIN.get(type(f)) else f.get_db_prep_save(v, connection)
        for f, v in zip(fields, values, strict=True)
    ]


class Loader:
    """Turns a row of all of a model's concrete columns, in order, into an instance."""

    def __init__(self, model: type[models.Model], using: str) -> None:
        connection = connections[using]
        quote = connection.ops.quote_name
        self.model, self.using = model, using
        fields = model._meta.concrete_fields
        self.columns = ", ".join(quote(f.column) for f in fields)
        self.attnames = [f.attname for f in fields]
        self.converters = []
        for index, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                self.converters.append((index, col, found))

    def __call__(self, row) -> models.Model:
        row = list(row)
        connection = connections[self.using]
        for index, col, found in self.converters:
            for convert in found:
                row[index] = convert(row[index], col, connection)
        return self.model.from_db(self.using, self.attnames, row)


def loader(model: type[models.Model], using: str = "default") -> Loader:
    """The model's loader; its `columns` list every concrete column (for RETURNING)."""
    key = ("loader", model, using)
    if key not in _sql:
        _sql[key] = Loader(model, using)
    return _sql[key]


def _fetch_one(model: type[models.Model], columns: str, using: str, where: dict) -> tuple | None:
    """SELECT `columns` of the one row matching `where` (column = value, ANDed)."""
    connection = connections[using]
    key = ("select", model, columns, tuple(where), using)
    if key not in _sql:
        quote = connection.ops.quote_name
        where_fields = _columns(model, where)
        sql = (
            f"SELECT {columns} FROM {quote(model._meta.db_table)} "
            f"WHERE {_where(where_fields, quote)}"
        )
        _sql[key] = (sql, where_fields)
    sql, where_fields = _sql[key]
    params = [
        f.get_db_prep_value(v, connection)
        for f, v in zip(where_fields, where.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def select_one(model: type[models.Model], using: str = "default", **where) -> models.Model | None:
    """The one row matching `where` (column = value, ANDed), or None. `where` must name a
    unique set of columns; the instance has every concrete field loaded."""
    load = loader(model, using)
    row = _fetch_one(model, load.columns, using, where)
    return None if row is None else load(row)


def select_pk(model: type[models.Model], using: str = "default", **where) -> object | None:
    """The primary key of the one row matching `where` (column = value, ANDed), or None."""
    column = connections[using].ops.quote_name(model._meta.pk.column)
    row = _fetch_one(model, column, using, where)
    return None if row is None else row[0]


def insert(model: type[models.Model], values: dict, using: str = "default") -> int:
    """INSERT one row of `values` (field name → Python value); its new primary key.

    Model defaults are not applied: `values` names every column that cannot be NULL."""
    connection = connections[using]
    key = ("insert", model, tuple(values), using)
    if key not in _sql:
        quote = connection.ops.quote_name
        fields = _columns(model, values)
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"RETURNING {quote(model._meta.pk.column)}"
        )
        _sql[key] = (sql, fields)
    sql, fields = _sql[key]
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(fields, values.values(), connection))
        return cursor.fetchone()[0]


def update(model: type[models.Model], values: dict, using: str = "default", **where) -> int:
    """UPDATE the rows matching `where` (column = value, ANDed) with `values`; the count."""
    connection = connections[using]
    key = ("update", model, tuple(values), tuple(where), using)
    if key not in _sql:
        quote = connection.ops.quote_name
        fields, guards = _columns(model, values), _columns(model, where)
        sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {_where(guards, quote)}"
        _sql[key] = (sql, fields, guards)
    sql, fields, guards = _sql[key]
    params = _params(fields, values.values(), connection)
    params += [
        f.get_db_prep_value(v, connection) for f, v in zip(guards, where.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
