"""Deterministic synthetic raw data: a customer table with the usual defects.

Nothing is downloaded. The same seed and row count give the same rows on any
machine and any Python >= 3.11: only ``random.Random.random()`` is used (its
Mersenne Twister stream is stable across versions), every other draw is
derived from it here.

Defects built in, so that each cleaning step has work to do:
- missing values (empty strings) in most columns,
- out-of-range values (age -1 or 999, negative income),
- heavy outliers (income and spend multiplied by 20-80),
- categories in mixed case with stray whitespace (" berlin", "BERLIN", "Pro "),
- several spellings of the churn flag ("yes", "Y", "1", "true", ...),
- exact duplicate rows (about 3 %), shuffled into the table.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

RAW_COLUMNS = (
    "customer_id",
    "signup_date",
    "age",
    "income",
    "city",
    "plan",
    "monthly_spend",
    "support_tickets",
    "churned",
)

DEFAULT_SEED = 42
DEFAULT_ROWS = 3000

CITIES = ("Berlin", "Hamburg", "Munich", "Cologne", "Leipzig")
PLANS = ("basic", "pro", "premium")
FIRST_SIGNUP = date(2019, 1, 1)
SIGNUP_SPAN_DAYS = 6 * 365

RawRow = dict[str, str]


class _Draw:
    """Every draw is built from ``Random.random()`` alone (stable across Python versions)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def uniform(self) -> float:
        return self._rng.random()

    def below(self, n: int) -> int:
        return min(int(self._rng.random() * n), n - 1)

    def pick(self, options: tuple[str, ...]) -> str:
        return options[self.below(len(options))]

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def normal(self, mean: float, sd: float) -> float:
        # Box-Muller with our own uniforms.
        u1 = 1.0 - self._rng.random()  # (0, 1]
        u2 = self._rng.random()
        return mean + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _messy_case(draw: _Draw, value: str) -> str:
    style = draw.below(5)
    if style == 0:
        value = value.upper()
    elif style == 1:
        value = value.lower()
    elif style == 2:
        value = value.title()
    if draw.chance(0.15):
        value = " " * (1 + draw.below(2)) + value
    if draw.chance(0.15):
        value = value + " " * (1 + draw.below(2))
    return value


def _churn_text(draw: _Draw, churned: bool) -> str:
    yes = ("yes", "Yes", "Y", "1", "true", "TRUE")
    no = ("no", "No", "N", "0", "false", "FALSE")
    return draw.pick(yes if churned else no)


def _row(draw: _Draw, index: int) -> RawRow:
    city = draw.pick(CITIES)
    plan_index = draw.below(len(PLANS))
    plan = PLANS[plan_index]
    signup = FIRST_SIGNUP + timedelta(days=draw.below(SIGNUP_SPAN_DAYS))
    age = max(18, min(90, round(draw.normal(41.0, 12.0))))
    income = max(8_000.0, draw.normal(52_000.0 + 9_000.0 * plan_index, 15_000.0))
    spend = max(5.0, draw.normal(20.0 + 25.0 * plan_index, 8.0))
    tickets = draw.below(4) + (draw.below(6) if draw.chance(0.2) else 0)
    # Churn depends on plan, tickets and spend, so features carry signal.
    churn_score = 0.35 - 0.08 * plan_index + 0.06 * tickets - 0.002 * spend
    churned = draw.uniform() < max(0.02, min(0.95, churn_score))

    age_text = str(age)
    income_text = f"{income:.2f}"
    spend_text = f"{spend:.2f}"
    signup_text = signup.isoformat()

    # Defects.
    if draw.chance(0.01):
        age_text = draw.pick(("-1", "999", "0"))
    if draw.chance(0.01):
        income_text = f"{income * (20 + draw.below(60)):.2f}"
    if draw.chance(0.005):
        income_text = f"{-income:.2f}"
    if draw.chance(0.01):
        spend_text = f"{spend * (20 + draw.below(60)):.2f}"
    if draw.chance(0.05):
        age_text = ""
    if draw.chance(0.06):
        income_text = ""
    if draw.chance(0.03):
        city = ""
    if draw.chance(0.02):
        signup_text = ""
    if draw.chance(0.02):
        spend_text = ""

    return {
        "customer_id": f"C{index:06d}",
        "signup_date": signup_text,
        "age": age_text,
        "income": income_text,
        "city": _messy_case(draw, city) if city else "",
        "plan": _messy_case(draw, plan),
        "monthly_spend": spend_text,
        "support_tickets": str(tickets),
        "churned": "" if draw.chance(0.01) else _churn_text(draw, churned),
    }


def generate_raw(seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> list[RawRow]:
    """Return ``rows`` customers plus about 3 % exact duplicates, in a seeded shuffled order."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    draw = _Draw(seed)
    table = [_row(draw, i + 1) for i in range(rows)]
    duplicates = [dict(table[draw.below(rows)]) for _ in range(max(1, rows * 3 // 100))]
    table.extend(duplicates)
    # Fisher-Yates with our own draws (random.shuffle's algorithm is not promised stable).
    for i in range(len(table) - 1, 0, -1):
        j = draw.below(i + 1)
        table[i], table[j] = table[j], table[i]
    return table
