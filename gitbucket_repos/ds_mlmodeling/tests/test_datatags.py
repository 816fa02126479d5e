"""Data tag names: parsing, and which tag is the newest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ds_mlmodeling.datatags import is_data_tag, newest_data_tag, parse_data_tag


def test_parse() -> None:
    assert parse_data_tag("CV_fix-a-b.c_DV_20250102T030405Z") == (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), 1)
    assert parse_data_tag("CV_x_DV_20250102T030405Z_3") == (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), 3)
    # the message part may contain _DV_ itself: the time is the last one
    assert parse_data_tag("CV_a_DV_b_DV_20250102T030405Z") == (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), 1)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "v1.0",
        "CV__DV_20250102T030405Z",  # empty message
        "CV_x_DV_20250102T030405",  # no Z
        "CV_x_DV_20251302T030405Z",  # month 13
        "CV_x_DV_20250102T030405Z_1",  # the producer never writes _1
        "CV_x_DV_20250102T030405Z_02",
        "CV_x y_DV_20250102T030405Z",
        "CV_" + "a" * 101 + "_DV_20250102T030405Z",
        "cv_x_DV_20250102T030405Z",
        "CV_x_DV_20250102T030405Z^{}",
    ],
)
def test_bad_names(name: str) -> None:
    assert parse_data_tag(name) is None
    assert not is_data_tag(name)


def test_newest_by_time_then_counter() -> None:
    tags = [
        "CV_old_DV_20240101T000000Z",
        "CV_b_DV_20250101T000000Z",
        "CV_b_DV_20250101T000000Z_2",
        "CV_b_DV_20250101T000000Z_10",  # 10 > 9 > 2: numeric, not text order
        "CV_b_DV_20250101T000000Z_9",
        "v9.9.9",
    ]
    assert newest_data_tag(tags) == "CV_b_DV_20250101T000000Z_10"
    assert newest_data_tag([*tags, "CV_a_DV_20250101T000001Z"]) == "CV_a_DV_20250101T000001Z"


def test_newest_ignores_other_names_and_is_order_independent() -> None:
    tags = ["CV_z_DV_20250101T000000Z", "CV_a_DV_20250101T000000Z", "release", "CV_m_DV_20241231T235959Z_5"]
    assert newest_data_tag(tags) == newest_data_tag(reversed(tags)) == "CV_z_DV_20250101T000000Z"
    assert newest_data_tag(["main", "v1"]) is None
    assert newest_data_tag([]) is None
