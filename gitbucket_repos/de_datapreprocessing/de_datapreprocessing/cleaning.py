"""Cleaning steps. Each is a pure function from rows to new rows (inputs are not mutated).

Order used by the job (see ``clean``):
1. ``drop_duplicates``        exact duplicate raw rows, first occurrence kept
2. ``normalize_categories``   strip, collapse inner whitespace, lower-case; "" -> None
3. ``parse_types``            text -> int / float / date / bool, unparseable -> None
4. ``invalidate_out_of_range`` impossible values (age outside 18..100, income <= 0, ...) -> None
5. ``clip_outliers``          winsorize income and spend at the 1st / 99th percentile
6. ``impute``                 median (numbers, dates) or mode (categories); adds ``<col>_missing`` flags
7. ``drop_unlabeled``         rows whose target ``churned`` is unknown are dropped
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from de_datapreprocessing.raw import RAW_COLUMNS, RawRow

Record = dict[str, Any]

CATEGORICAL = ("city", "plan")
NUMERIC = ("age", "income", "monthly_spend", "support_tickets")
VALID_RANGES: dict[str, tuple[float, float]] = {
    "age": (18, 100),
    "income": (1.0, math.inf),
    "monthly_spend": (0.0, math.inf),
    "support_tickets": (0, 1000),
}
CLIPPED = ("income", "monthly_spend")
IMPUTED = ("age", "income", "monthly_spend", "city", "signup_date")

_TRUE = frozenset({"yes", "y", "1", "true", "t"})
_FALSE = frozenset({"no", "n", "0", "false", "f"})


def drop_duplicates(rows: Iterable[RawRow]) -> list[RawRow]:
    """Drop rows identical in every raw column; keep the first occurrence and the order."""
    seen: set[tuple[str, ...]] = set()
    out: list[RawRow] = []
    for row in rows:
        key = tuple(row.get(col, "") for col in RAW_COLUMNS)
        if key not in seen:
            seen.add(key)
            out.append(dict(row))
    return out


def _norm_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split()).lower()
    return text or None


def normalize_categories(rows: Iterable[Record], columns: Sequence[str] = CATEGORICAL) -> list[Record]:
    """``"  BERLIN "`` and ``"Berlin"`` become ``"berlin"``; blank becomes None."""
    return [{**row, **{col: _norm_text(row.get(col)) for col in columns}} for row in rows]


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _float_or_none(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _date_or_none(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _bool_or_none(text: str | None) -> bool | None:
    norm = (text or "").strip().lower()
    if norm in _TRUE:
        return True
    if norm in _FALSE:
        return False
    return None


def parse_types(rows: Iterable[Record]) -> list[Record]:
    """Typed records; anything unparseable becomes None (never an exception)."""
    out: list[Record] = []
    for row in rows:
        out.append(
            {
                "customer_id": row["customer_id"],
                "signup_date": _date_or_none(row.get("signup_date")),
                "age": _int_or_none(row.get("age")),
                "income": _float_or_none(row.get("income")),
                "city": row.get("city"),
                "plan": row.get("plan"),
                "monthly_spend": _float_or_none(row.get("monthly_spend")),
                "support_tickets": _int_or_none(row.get("support_tickets")),
                "churned": _bool_or_none(row.get("churned")),
            }
        )
    return out


def invalidate_out_of_range(
    rows: Iterable[Record], ranges: dict[str, tuple[float, float]] | None = None
) -> list[Record]:
    """Values outside their valid closed range become None (they are unknown, not extreme)."""
    limits = VALID_RANGES if ranges is None else ranges
    out: list[Record] = []
    for row in rows:
        new = dict(row)
        for col, (low, high) in limits.items():
            value = new.get(col)
            if value is not None and not (low <= value <= high):
                new[col] = None
        out.append(new)
    return out


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of a non-empty sequence."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def clip_outliers(
    rows: Iterable[Record], columns: Sequence[str] = CLIPPED, lower_q: float = 0.01, upper_q: float = 0.99
) -> list[Record]:
    """Winsorize: values beyond the columns' quantiles are set to those quantiles. None stays None."""
    table = [dict(row) for row in rows]
    for col in columns:
        present = [row[col] for row in table if row.get(col) is not None]
        if not present:
            continue
        low, high = quantile(present, lower_q), quantile(present, upper_q)
        for row in table:
            if row.get(col) is not None:
                row[col] = min(max(row[col], low), high)
    return table


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def mode(values: Iterable[str]) -> str:
    """Most frequent value; ties go to the alphabetically first (deterministic)."""
    counts = Counter(values)
    if not counts:
        raise ValueError("mode of no values")
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def impute(rows: Iterable[Record], columns: Sequence[str] = IMPUTED) -> list[Record]:
    """Fill None with the median (numbers, dates) or mode (text) and add ``<col>_missing`` (0/1)."""
    table = [dict(row) for row in rows]
    for col in columns:
        present = [row[col] for row in table if row.get(col) is not None]
        fill: Any
        if not present:
            fill = None
        elif isinstance(present[0], str):
            fill = mode(present)
        elif isinstance(present[0], date):
            ordinals = [d.toordinal() for d in present]
            fill = date.fromordinal(round(median(ordinals)))
        else:
            fill = median(present)
            if all(isinstance(v, int) for v in present):
                fill = round(fill)
        for row in table:
            missing = row.get(col) is None
            row[f"{col}_missing"] = int(missing)
            if missing:
                row[col] = fill
    return table


def drop_unlabeled(rows: Iterable[Record], target: str = "churned") -> list[Record]:
    return [dict(row) for row in rows if row.get(target) is not None]


def clean(raw: Iterable[RawRow]) -> list[Record]:
    """All cleaning steps in order."""
    rows: list[Record] = [dict(r) for r in drop_duplicates(raw)]
    rows = normalize_categories(rows)
    rows = parse_types(rows)
    rows = invalidate_out_of_range(rows)
    rows = clip_outliers(rows)
    rows = impute(rows)
    return drop_unlabeled(rows)
