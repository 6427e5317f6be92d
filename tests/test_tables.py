"""schemas/ is the single source of the table contracts."""
from __future__ import annotations

import pyarrow as pa
import pytest

from adstage.tables import arrow_type, spec, table_names


def test_every_contract_loads_with_keys_and_unique_columns():
    assert {"catalog_images", "ingest_rejects"} <= set(table_names())
    for name in table_names():
        contract = spec(name)
        assert len(set(contract.names)) == len(contract.names)
        assert contract.key, f"{name} needs a key (MERGE) or partition to rewrite a date"
        for col in (*contract.key, *contract.partition_by):
            assert col in contract.names
        assert all(c.description for c in contract.columns), name
        assert contract.arrow_schema().names == contract.names


def test_date_scoped_tables_are_partitioned_by_ds():
    assert spec("ingest_rejects").partition_by == ("ds",)


def test_nested_types():
    assert arrow_type("array<struct<uri:string,role:string>>") == pa.list_(
        pa.struct([("uri", pa.string()), ("role", pa.string())]))
    with pytest.raises(ValueError):
        arrow_type("varchar")


def test_spark_schema_matches_arrow(spark):
    for name in table_names():
        contract = spec(name)
        fields = contract.spark_schema().fields
        assert [f.name for f in fields] == contract.names
        assert [f.nullable for f in fields] == [c.nullable for c in contract.columns]
