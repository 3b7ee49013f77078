"""A table's identity for its log and its checkpoints: name, schema, row key, and the check
that a part (or a checkpoint) read back is of that table. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from storage.errors import CorruptObject


class CorruptPart(CorruptObject):
    """A committed part that does not read as Parquet of its table's schema, or is missing
    from the log's numbering."""

    def __init__(self, key: str, detail: str):
        super().__init__(f"{key.split('/', 1)[0].strip('_').removesuffix('s')} {key} {detail}")
        self.key = key


@dataclass(frozen=True)
class Table:
    """One of the archive's tables: its name (the key prefix), schema and row key (a row whose
    key the log already holds is not added again, so a repeated commit is a no-op)."""

    name: str
    schema: pa.Schema
    key: str
    sort: tuple[str, ...] = ()  # the order of rows within a part (default: the key)
    error: type[CorruptPart] = CorruptPart  # what a corrupt or missing part of it raises
    required: tuple[str, ...] = ()  # columns no row may leave null, besides the key
    # the columns a checkpoint keeps (what the pipeline decides on); empty: all of them
    state: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def state_columns(self) -> list[str]:
        keep = self.state or tuple(self.schema.names)
        return [c for c in self.schema.names if c in keep or c in (self.key, *self.required)]


def _singular(table: Table) -> str:
    return table.name.removesuffix("s")


def check_schema(table: Table, key: str, schema: pa.Schema) -> None:
    """Raise the table's CorruptPart when a part's schema is not the table's: its key or a
    required column missing, or a column of the table's with another type. Columns the table
    added after the part was written may be absent (read as null); unknown ones are ignored."""
    names = set(schema.names)
    missing = [c for c in (table.key, *table.required) if c not in names]
    if missing:
        has = ", ".join(schema.names[:6]) + (", ..." if len(schema.names) > 6 else "")
        raise table.error(
            key,
            f"does not fit the {_singular(table)} schema: no {', '.join(missing)} column (it has {has})",
        )
    for field in schema:
        if field.name in table.schema.names:
            want = table.schema.field(field.name).type
            if not field.type.equals(want):
                raise table.error(
                    key,
                    f"does not fit the {_singular(table)} schema: column {field.name} is {field.type}, not {want}",
                )
