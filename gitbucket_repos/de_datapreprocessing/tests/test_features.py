"""Each feature step, and the byte-level rules of the CSV writer."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from de_datapreprocessing import features
from de_datapreprocessing.cleaning import clean
from de_datapreprocessing.raw import generate_raw


def cleaned(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "customer_id": "C1",
        "signup_date": date(2024, 1, 1),
        "age": 30,
        "income": 60000.0,
        "city": "berlin",
        "plan": "pro",
        "monthly_spend": 50.0,
        "support_tickets": 2,
        "churned": False,
    }
    row.update(overrides)
    return row


def test_add_derived_uses_the_fixed_reference_date() -> None:
    (out,) = features.add_derived([cleaned()], reference_date=date(2025, 1, 1))
    assert out["tenure_days"] == 366
    assert out["log_income"] == pytest.approx(math.log1p(60000.0))
    assert out["spend_to_income"] == pytest.approx(0.01)
    assert out["tickets_per_year"] == pytest.approx(2 / (366 / 365.25))


def test_add_derived_guards_new_customers() -> None:
    (out,) = features.add_derived([cleaned(signup_date=date(2025, 6, 1))], reference_date=date(2025, 1, 1))
    assert out["tenure_days"] == 0
    assert out["tickets_per_year"] == pytest.approx(24.0)


def test_one_hot_known_and_unknown() -> None:
    out = features.one_hot([{"c": "a"}, {"c": "z"}], "c", ["a", "b"])
    assert out == [{"c": "a", "c_a": 1, "c_b": 0}, {"c": "z", "c_a": 0, "c_b": 0}]


def test_standardize() -> None:
    out = features.standardize([{"x": 1.0}, {"x": 3.0}, {"k": 0, "x": 5.0}], ["x"])
    assert [r["x"] for r in out] == pytest.approx([-1.224744871, 0.0, 1.224744871])
    assert features.standardize([{"x": 2.0}, {"x": 2.0}], ["x"]) == [{"x": 0.0}, {"x": 0.0}]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.000000"),
        (-1e-9, "0.000000"),
        (-0.0, "0.000000"),
        (2.5e-7, "0.000000"),
        (-1.5, "-1.500000"),
        (True, "1"),
        (3, "3"),
        (None, ""),
        ("C1", "C1"),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert features.format_value(value) == text


def test_format_value_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        features.format_value(float("nan"))


def test_build_features_table(tmp_path: Path) -> None:
    table = features.build_features(clean(generate_raw(5, 800)))
    assert [list(row) for row in table[:1]] == [list(features.OUTPUT_COLUMNS)]
    ids = [row["customer_id"] for row in table]
    assert ids == sorted(ids)
    for col in features.STANDARDIZED:
        values = [row[col] for row in table]
        assert math.fsum(values) / len(values) == pytest.approx(0.0, abs=1e-9)
    for row in table:
        assert sum(row[f"plan_{p}"] for p in features.PLAN_CATEGORIES) == 1
        assert row["churned"] in (0, 1)
    data = features.write_csv(table, tmp_path / "out" / "f.csv")
    assert (tmp_path / "out" / "f.csv").read_bytes() == data
    assert b"\r" not in data and data.endswith(b"\n")
    assert data.count(b"\n") == len(table) + 1
    assert not list((tmp_path / "out").glob("*.tmp"))
