"""Feature steps on cleaned records, and the deterministic CSV writer.

1. ``add_derived``   tenure_days (to a FIXED reference date, never "today"), log_income,
                     spend_to_income, tickets_per_year
2. ``one_hot``       city_<name>, plan_<name> over a fixed, sorted category list
3. ``standardize``   z-scores of the numeric features (population standard deviation)
4. ``to_table``      fixed column order, rows sorted by customer_id
5. ``write_csv``     "\\n" line ends, floats with 6 decimals, no "-0.000000"
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from de_datapreprocessing.cleaning import Record
from de_datapreprocessing.raw import CITIES, PLANS

REFERENCE_DATE = date(2025, 1, 1)
CITY_CATEGORIES = tuple(sorted(c.lower() for c in CITIES))
PLAN_CATEGORIES = tuple(sorted(PLANS))
STANDARDIZED = ("age", "log_income", "monthly_spend", "spend_to_income", "tenure_days", "tickets_per_year")
FLOAT_DECIMALS = 6


def add_derived(rows: Iterable[Record], reference_date: date = REFERENCE_DATE) -> list[Record]:
    out: list[Record] = []
    for row in rows:
        new = dict(row)
        signup: date = row["signup_date"]
        tenure = max(0, (reference_date - signup).days)
        income: float = row["income"]
        new["tenure_days"] = tenure
        new["log_income"] = math.log1p(income)
        new["spend_to_income"] = 12.0 * row["monthly_spend"] / income
        new["tickets_per_year"] = row["support_tickets"] / max(tenure / 365.25, 1.0 / 12.0)
        out.append(new)
    return out


def one_hot(rows: Iterable[Record], column: str, categories: Sequence[str]) -> list[Record]:
    """``<column>_<category>`` = 1/0 for every known category; unknown values get all zeros."""
    out: list[Record] = []
    for row in rows:
        new = dict(row)
        for cat in categories:
            new[f"{column}_{cat}"] = int(row.get(column) == cat)
        out.append(new)
    return out


def standardize(rows: Iterable[Record], columns: Sequence[str] = STANDARDIZED) -> list[Record]:
    """Replace each column by its z-score; a constant column becomes 0."""
    table = [dict(row) for row in rows]
    if not table:
        return table
    for col in columns:
        values = [float(row[col]) for row in table]
        mean = math.fsum(values) / len(values)
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
        for row in table:
            row[col] = 0.0 if sd == 0.0 else (float(row[col]) - mean) / sd
    return table


OUTPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    *STANDARDIZED,
    "support_tickets",
    *(f"city_{c}" for c in CITY_CATEGORIES),
    *(f"plan_{p}" for p in PLAN_CATEGORIES),
    "age_missing",
    "income_missing",
    "monthly_spend_missing",
    "city_missing",
    "signup_date_missing",
    "churned",
)


def build_features(cleaned: Iterable[Record]) -> list[Record]:
    rows = add_derived(cleaned)
    rows = one_hot(rows, "city", CITY_CATEGORIES)
    rows = one_hot(rows, "plan", PLAN_CATEGORIES)
    rows = standardize(rows)
    for row in rows:
        row["churned"] = int(bool(row["churned"]))
    return to_table(rows)


def to_table(rows: Iterable[Record], columns: Sequence[str] = OUTPUT_COLUMNS) -> list[Record]:
    return [{col: row[col] for col in columns} for row in sorted(rows, key=lambda r: r["customer_id"])]


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite value {value!r} in output")
        text = f"{value:.{FLOAT_DECIMALS}f}"
        return text[1:] if text.startswith("-") and float(text) == 0.0 else text
    if value is None:
        return ""
    return str(value)


def render_csv(rows: Sequence[Record], columns: Sequence[str] = OUTPUT_COLUMNS) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row[col]) for col in columns])
    return buffer.getvalue().encode("utf-8")


def write_csv(rows: Sequence[Record], path: Path, columns: Sequence[str] = OUTPUT_COLUMNS) -> bytes:
    """Write atomically (temp file + rename) and return the bytes written."""
    data = render_csv(rows, columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data
