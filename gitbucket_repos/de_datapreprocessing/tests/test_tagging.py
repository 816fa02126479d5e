"""The tag rule: always a valid git tag, documented shape, never overwriting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from de_datapreprocessing.tagging import (
    MAX_MESSAGE_LENGTH,
    message_part,
    parse_tag,
    subject,
    tag_name,
    unique_tag_name,
)

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "20250102T030405Z"

HOSTILE: list[tuple[str, str]] = [
    ("Add feature", "Add-feature"),
    ("fix: a/b..c", "fix-a-b.c"),
    ("refs/heads/main", "refs-heads-main"),
    ("~^:?*[\\", "empty"),
    ("@{u}", "u"),
    ("@", "empty"),
    ("tab\tand\x00nul\x7fdel\x1bend", "tab-and-nul-del-end"),
    ("Überarbeitung der Daten", "Uberarbeitung-der-Daten"),
    ("ﬁx naïve café", "fix-naive-cafe"),
    ("数据 清洗", "empty"),
    ("emoji 🚀 launch", "emoji-launch"),
    ("", "empty"),
    ("   \n\n  \t", "empty"),
    ("subject\n\nbody line: ignored", "subject"),
    ("\n\n  real subject  \nsecond", "real-subject"),
    ("-leading dash", "leading-dash"),
    (".hidden", "hidden"),
    ("trailing dot.", "trailing-dot"),
    ("ends with .lock", "ends-with-.lock"),
    ("foo.lock", "foo.lock"),
    ("a___b---c...d", "a_b-c.d"),
    ("x" * 10_000, "x" * MAX_MESSAGE_LENGTH),
    ("a" * 99 + ".b", "a" * 99),
    ("a" * 98 + " -_b", "a" * 98),
    ("CV_x_DV_20200101T000000Z", "CV_x_DV_20200101T000000Z"),
    ("\u200b\u2028zero width", "zero-width"),
    ("Straße für Œuvre", "Strasse-fur-OEuvre"),
    ("foo数据bar", "foo-bar"),
    ("Ⅻ. release", "XII.-release"),
    ("first\rsame line\u2028too", "first-same-line-too"),
]


@pytest.mark.parametrize(("message", "expected"), HOSTILE, ids=[f"case{i}" for i in range(len(HOSTILE))])
def test_hostile_messages_give_the_documented_part(message: str, expected: str) -> None:
    assert tag_name(message, WHEN) == f"CV_{expected}_DV_{STAMP}"


def test_hostile_messages_pass_git_check_ref_format(git_rejects) -> None:
    names = [tag_name(message, WHEN) for message, _ in HOSTILE]
    names += [unique_tag_name(n, [n]) for n in names[:3]]
    assert git_rejects(names) == []


def test_the_git_check_itself_can_fail(git_rejects) -> None:
    # Guard against a check that accepts everything.
    assert git_rejects(["a..b", "x.lock", "bad name", "ok"]) == ["a..b", "x.lock", "bad name"]


def test_time_is_converted_to_utc_and_naive_times_are_refused() -> None:
    cest = timezone(timedelta(hours=2))
    assert tag_name("m", datetime(2025, 1, 2, 5, 4, 5, tzinfo=cest)).endswith("_DV_20250102T030405Z")
    assert tag_name("m", datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)).endswith("_DV_09990102T030405Z")
    with pytest.raises(ValueError, match="timezone-aware"):
        tag_name("m", datetime(2025, 1, 2, 3, 4, 5))


def test_subject_is_the_first_non_blank_line() -> None:
    assert subject("\n  \nTitle\nbody") == "Title"
    assert subject("") == ""


def test_message_part_is_bounded() -> None:
    assert len(message_part("ab " * 5000)) <= MAX_MESSAGE_LENGTH


def test_unique_tag_name_never_returns_an_existing_name() -> None:
    base = tag_name("m", WHEN)
    assert unique_tag_name(base, []) == base
    assert unique_tag_name(base, [base]) == f"{base}_2"
    assert unique_tag_name(base, [base, f"{base}_2", f"{base}_3"]) == f"{base}_4"
    assert unique_tag_name(base, [f"{base}_2"]) == base


def test_parse_tag_round_trip() -> None:
    name = unique_tag_name(tag_name("Fix: the thing", WHEN), [tag_name("Fix: the thing", WHEN)])
    assert parse_tag(name) == ("Fix-the-thing", WHEN, 2)
    assert parse_tag("v1.0") is None


HOSTILE_PIECES = st.sampled_from(
    [
        " ",
        "/",
        "//",
        "..",
        ".",
        "-",
        "_",
        "~",
        "^",
        ":",
        "?",
        "*",
        "[",
        "]",
        "\\",
        "@",
        "@{",
        "{",
        "}",
        "\x00",
        "\x01",
        "\x7f",
        "\n",
        "\r",
        "\t",
        ".lock",
        "lock",
        "_DV_",
        "CV_",
        "é",
        "ß",
        "数据",
        "\u200b",
        "ﬁ",
        "Ⅻ",
        "🚀",
        "\ufeff",
        "\u0301",
        "a",
        "Z",
        "9",
    ]
)
MESSAGES = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(HOSTILE_PIECES, st.text(max_size=5)), max_size=60).map("".join),
    st.text(alphabet="ab.-_ /", min_size=90, max_size=400),
)
OFFSETS = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
TIMES = st.builds(
    lambda naive, offset: naive.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31)),
    OFFSETS,
)


def test_every_generated_name_is_a_valid_git_tag(git_rejects) -> None:
    """Property test; git is run once per batch (hypothesis collects, git checks all at the end)."""
    produced: list[tuple[str, str]] = []

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(message=MESSAGES, produced_at=TIMES)
    def collect(message: str, produced_at: datetime) -> None:
        name = tag_name(message, produced_at)
        parsed = parse_tag(name)
        assert parsed is not None, name
        part, when, counter = parsed
        assert part == message_part(message)
        assert 1 <= len(part) <= MAX_MESSAGE_LENGTH
        assert when == produced_at.astimezone(UTC).replace(microsecond=0)
        assert counter == 1
        assert tag_name(message, produced_at) == name
        produced.append((message, name))
        suffixed = unique_tag_name(name, [name])
        produced.append((message, suffixed))

    collect()
    assert len(produced) >= 400
    bad = set(git_rejects([name for _, name in produced]))
    assert [(message, name) for message, name in produced if name in bad] == []
