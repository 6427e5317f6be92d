"""Table contracts, read from the JSON files in `schemas/` (the single source of truth).

Each contract gives the Spark schema, the pyarrow schema, the partition columns and the MERGE
key. Nothing else in the project spells out a table's columns.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

_SIMPLE_ARROW = {
    "string": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(),
    "float": pa.float32(), "boolean": pa.bool_(), "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"), "binary": pa.binary(),
}


def schemas_dir() -> Path:
    """`ADSTAGE_SCHEMAS_DIR`, else the checkout's `schemas/`, else the installed data files
    (adstage.datafiles)."""
    from adstage import datafiles

    return datafiles.schemas_dir()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, arrow_type(c.type), c.nullable,
                                   metadata={"comment": c.description}) for c in self.columns])

    def spark_schema(self):
        from pyspark.sql.types import StructField, StructType

        return StructType([StructField(c.name, spark_type(c.type), c.nullable,
                                       {"comment": c.description}) for c in self.columns])


@lru_cache(maxsize=None)
def spec(name: str) -> TableSpec:
    path = schemas_dir() / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no table contract {name!r} in {schemas_dir()}")
    doc = json.loads(path.read_text())
    known = {"name", "description", "columns", "partition_by", "key"}
    return TableSpec(
        name=doc["name"], description=doc.get("description", ""),
        columns=tuple(Column(c["name"], c["type"], bool(c.get("nullable", True)),
                             c.get("description", "")) for c in doc["columns"]),
        partition_by=tuple(doc.get("partition_by", ())), key=tuple(doc.get("key", ())),
        extra={k: v for k, v in doc.items() if k not in known})


def table_names() -> list[str]:
    """Contracts of Delta tables (every schema file except the input feed)."""
    return sorted(p.stem for p in schemas_dir().glob("*.json") if p.stem != "feed")


def record_schema(columns: list[tuple[str, str]]) -> pa.Schema:
    """Arrow schema of an intermediate record (name, contract type) list."""
    return pa.schema([pa.field(n, arrow_type(t)) for n, t in columns])


def ddl(columns: list[tuple[str, str]]) -> str:
    """Spark DDL of the same list (long -> bigint is the only spelling that differs)."""
    return ", ".join(f"{n} {t.replace('long', 'bigint')}" for n, t in columns)


# ---- type strings ----------------------------------------------------------------------
def _split_top(s: str) -> list[str]:
    """Split `a:int,b:array<x>` on top-level commas."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur] if cur else parts


def _parse(t: str) -> tuple:
    t = t.strip()
    m = re.fullmatch(r"(array|struct)<(.*)>", t)
    if not m:
        if t not in _SIMPLE_ARROW:
            raise ValueError(f"unknown column type {t!r}")
        return ("simple", t)
    if m.group(1) == "array":
        return ("array", _parse(m.group(2)))
    fields = []
    for part in _split_top(m.group(2)):
        name, sub = part.split(":", 1)
        fields.append((name.strip(), _parse(sub)))
    return ("struct", fields)


def arrow_type(t: str | tuple) -> pa.DataType:
    node = _parse(t) if isinstance(t, str) else t
    if node[0] == "simple":
        return _SIMPLE_ARROW[node[1]]
    if node[0] == "array":
        return pa.list_(arrow_type(node[1]))
    return pa.struct([pa.field(n, arrow_type(s)) for n, s in node[1]])


def spark_type(t: str | tuple):
    from pyspark.sql import types as T

    simple = {"string": T.StringType(), "int": T.IntegerType(), "long": T.LongType(),
              "double": T.DoubleType(), "float": T.FloatType(), "boolean": T.BooleanType(),
              "date": T.DateType(), "timestamp": T.TimestampType(), "binary": T.BinaryType()}
    node = _parse(t) if isinstance(t, str) else t
    if node[0] == "simple":
        return simple[node[1]]
    if node[0] == "array":
        return T.ArrayType(spark_type(node[1]))
    return T.StructType([T.StructField(n, spark_type(s)) for n, s in node[1]])
