"""Each cleaning step on small hand-made inputs, then the whole chain on generated data."""

from __future__ import annotations

from datetime import date

import pytest

from de_datapreprocessing import cleaning
from de_datapreprocessing.raw import generate_raw


def raw(**overrides: str) -> dict[str, str]:
    row = {
        "customer_id": "C000001",
        "signup_date": "2020-05-01",
        "age": "30",
        "income": "50000.00",
        "city": "Berlin",
        "plan": "pro",
        "monthly_spend": "40.00",
        "support_tickets": "1",
        "churned": "no",
    }
    row.update(overrides)
    return row


def test_drop_duplicates_keeps_first_occurrence_and_order() -> None:
    a, b = raw(customer_id="C1"), raw(customer_id="C2")
    out = cleaning.drop_duplicates([a, b, dict(a), raw(customer_id="C1", age="31")])
    assert [r["customer_id"] for r in out] == ["C1", "C2", "C1"]
    assert out[2]["age"] == "31"


def test_normalize_categories() -> None:
    rows = [raw(city="  BERLIN "), raw(city="new   york"), raw(city="   "), raw(plan="Pro ")]
    out = cleaning.normalize_categories(rows)
    assert [r["city"] for r in out] == ["berlin", "new york", None, "berlin"]
    assert out[3]["plan"] == "pro"
    assert rows[0]["city"] == "  BERLIN ", "input not mutated"


def test_parse_types_never_raises() -> None:
    out = cleaning.parse_types(
        [
            raw(age="41", income="1.5", signup_date="2021-02-03", churned="Y"),
            raw(age="x", income="nan", signup_date="2021-02-30", churned="maybe", support_tickets=""),
        ]
    )
    assert out[0]["age"] == 41 and out[0]["income"] == 1.5
    assert out[0]["signup_date"] == date(2021, 2, 3) and out[0]["churned"] is True
    assert out[1]["age"] is None and out[1]["income"] is None
    assert out[1]["signup_date"] is None and out[1]["churned"] is None and out[1]["support_tickets"] is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", True),
        ("TRUE", True),
        ("1", True),
        (" n ", False),
        ("False", False),
        ("0", False),
        ("", None),
        ("2", None),
    ],
)
def test_churn_spellings(text: str, value: bool | None) -> None:
    assert cleaning.parse_types([raw(churned=text)])[0]["churned"] is value


def test_invalidate_out_of_range() -> None:
    rows = [{"age": 17, "income": -5.0}, {"age": 18, "income": 1.0}, {"age": 999, "income": None}]
    out = cleaning.invalidate_out_of_range(rows, {"age": (18, 100), "income": (1.0, float("inf"))})
    assert out == [{"age": None, "income": None}, {"age": 18, "income": 1.0}, {"age": None, "income": None}]


def test_quantile_matches_linear_interpolation() -> None:
    assert cleaning.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert cleaning.quantile([3.0, 1.0, 2.0], 0.0) == 1.0
    assert cleaning.quantile([3.0, 1.0, 2.0], 1.0) == 3.0
    with pytest.raises(ValueError):
        cleaning.quantile([], 0.5)


def test_clip_outliers_winsorizes_and_keeps_none() -> None:
    rows = [{"income": float(v)} for v in range(1, 101)] + [{"income": 1e9}, {"income": None}]
    out = cleaning.clip_outliers(rows, ["income"], 0.0, 0.99)
    assert max(r["income"] for r in out if r["income"] is not None) < 1e9
    assert out[-1]["income"] is None
    assert out[0]["income"] == 1.0


def test_mode_breaks_ties_alphabetically() -> None:
    assert cleaning.mode(["b", "a", "b", "a", "c"]) == "a"


def test_impute_fills_and_flags() -> None:
    rows = [
        {"age": 20, "city": "b", "signup_date": date(2020, 1, 1), "income": 1.0},
        {"age": 40, "city": "b", "signup_date": date(2020, 1, 3), "income": 3.0},
        {"age": None, "city": None, "signup_date": None, "income": None},
    ]
    out = cleaning.impute(rows, ["age", "city", "signup_date", "income"])
    assert out[2] == {
        "age": 30,
        "city": "b",
        "signup_date": date(2020, 1, 2),
        "income": 2.0,
        "age_missing": 1,
        "city_missing": 1,
        "signup_date_missing": 1,
        "income_missing": 1,
    }
    assert out[0]["age_missing"] == 0


def test_drop_unlabeled() -> None:
    assert cleaning.drop_unlabeled([{"churned": True}, {"churned": None}, {"churned": False}]) == [
        {"churned": True},
        {"churned": False},
    ]


def test_clean_chain_leaves_no_defects() -> None:
    out = cleaning.clean(generate_raw(3, 2000))
    assert out, "rows survive"
    ids = [r["customer_id"] for r in out]
    assert len(ids) == len(set(ids)), "no duplicates"
    for row in out:
        for col in ("age", "income", "monthly_spend", "city", "signup_date", "plan", "churned"):
            assert row[col] is not None, (col, row)
        assert 18 <= row["age"] <= 100 and row["income"] > 0
        assert row["city"] == row["city"].strip().lower()
