"""Synthetic raw data: deterministic, and it has the defects the cleaning removes."""

from __future__ import annotations

import pytest

from de_datapreprocessing.raw import RAW_COLUMNS, generate_raw


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert generate_raw(7, 500) == generate_raw(7, 500)
    assert generate_raw(7, 500) != generate_raw(8, 500)


def test_shape_and_columns() -> None:
    rows = generate_raw(1, 1000)
    assert len(rows) == 1000 + 30  # 3 % exact duplicates
    assert all(tuple(row) == RAW_COLUMNS for row in rows)
    assert len({row["customer_id"] for row in rows}) == 1000


def test_has_the_defects_cleaning_is_for() -> None:
    rows = generate_raw(1, 3000)
    keys = [tuple(row.values()) for row in rows]
    assert len(set(keys)) < len(keys), "duplicates"
    assert any(row["age"] == "" for row in rows), "missing ages"
    assert any(row["income"] == "" for row in rows), "missing incomes"
    assert any(row["age"] in ("-1", "999", "0") for row in rows), "impossible ages"
    assert any(row["income"].startswith("-") for row in rows), "negative incomes"
    incomes = sorted(float(row["income"]) for row in rows if row["income"])
    assert incomes[-1] > 10 * incomes[len(incomes) // 2], "income outliers"
    cities = {row["city"] for row in rows}
    assert {"BERLIN", "berlin", "Berlin"} <= cities
    assert any(c != c.strip() for c in cities), "stray whitespace"
    assert {row["churned"] for row in rows} >= {"yes", "Y", "1", "no", "0", "FALSE", ""}


def test_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rows"):
        generate_raw(1, 0)
