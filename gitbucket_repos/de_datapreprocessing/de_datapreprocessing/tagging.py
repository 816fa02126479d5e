"""Data-version tag names: ``CV_<code message>_DV_<UTC time the data was produced>``.

The rule (every step is deterministic; the result is always a valid git tag,
i.e. ``git check-ref-format refs/tags/<name>`` accepts it):

1. Message part = the subject of the code commit: the first line (split at
   ``\n`` only, as git does) that is not blank; the body is ignored.
2. Unicode is transliterated where it has an ASCII form and replaced otherwise:
   NFKD decomposition, combining marks dropped, a few letters without a
   decomposition spelled out (ß -> ss, æ -> ae, ø -> o, ł -> l, ...); what is
   still not ASCII is treated like any other disallowed character in step 3
   ("Überarbeitung" -> "Uberarbeitung", "ﬁx" -> "fix", "foo数据bar" -> "foo-bar").
3. Every run of characters outside ``[A-Za-z0-9._-]`` (spaces, ``/``, ``~^:?*[\\``,
   ``@``, ``{``, control characters, non-ASCII, ...) becomes one ``-``.
4. Runs of ``.`` / ``-`` / ``_`` collapse to one character each (so ``..`` cannot
   occur), and leading or trailing ``.``, ``-``, ``_`` are stripped.
5. The part is cut to ``MAX_MESSAGE_LENGTH`` (100) characters, then trailing
   ``.``, ``-``, ``_`` are stripped again.
6. If nothing is left, the part is ``empty``.
7. Time part = ``produced_at`` converted to UTC, ``YYYYMMDDTHHMMSSZ``; a naive
   datetime is rejected (its zone would be a guess).

The name therefore contains only ``[A-Za-z0-9._-]``, starts with ``CV_`` and
ends with ``Z`` (or ``_<n>``, below): no ``..``, no ``@{``, no leading ``-`` or
``.``, no ``.lock`` suffix, no ``/``, at most 3 + 100 + 4 + 16 (+ suffix) chars.

Existing names are never overwritten: ``unique_tag_name`` appends ``_2``,
``_3``, ... to a name that already exists (same subject, same second).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

PREFIX = "CV_"
SEPARATOR = "_DV_"
MAX_MESSAGE_LENGTH = 100
EMPTY_MESSAGE = "empty"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"

_DISALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"([._-])\1+")
_EDGES = "._-"
TAG_PATTERN = re.compile(
    r"^CV_(?P<message>[A-Za-z0-9._-]{1,"
    + str(MAX_MESSAGE_LENGTH)
    + r"})_DV_(?P<time>\d{8}T\d{6}Z)(?:_(?P<counter>[2-9]|[1-9]\d+))?$"
)


_SPELLED_OUT = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "œ": "oe",
        "Œ": "OE",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "Þ": "Th",
        "\u0131": "i",
    }  # dotless i
)


def subject(commit_message: str) -> str:
    """First non-blank line of a commit message, split at "\\n" like git ("" if there is none)."""
    for line in commit_message.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def transliterate(text: str) -> str:
    """ASCII where Unicode offers it (NFKD without combining marks, plus a few spelled-out letters)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLED_OUT))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def message_part(commit_message: str) -> str:
    text = transliterate(subject(commit_message))
    text = _DISALLOWED.sub("-", text)
    text = _RUNS.sub(r"\1", text).strip(_EDGES)
    text = text[:MAX_MESSAGE_LENGTH].rstrip(_EDGES)
    return text or EMPTY_MESSAGE


def time_part(produced_at: datetime) -> str:
    if produced_at.tzinfo is None or produced_at.utcoffset() is None:
        raise ValueError("produced_at must be timezone-aware (e.g. datetime.now(UTC))")
    t = produced_at.astimezone(UTC)
    # Not strftime: its %Y is not zero-padded below year 1000 on glibc.
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


def tag_name(commit_message: str, produced_at: datetime) -> str:
    """``CV_<message part>_DV_<YYYYMMDDTHHMMSSZ>``; see the module docstring for the rule."""
    return f"{PREFIX}{message_part(commit_message)}{SEPARATOR}{time_part(produced_at)}"


def unique_tag_name(name: str, existing: Iterable[str]) -> str:
    """``name`` if it is not in ``existing``, else the first free ``name_2``, ``name_3``, ..."""
    taken = set(existing)
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def parse_tag(name: str) -> tuple[str, datetime, int] | None:
    """(message part, produced_at in UTC, counter) of a name made here, else None."""
    match = TAG_PATTERN.match(name)
    if not match:
        return None
    produced = datetime.strptime(match["time"], TIME_FORMAT).replace(tzinfo=UTC)
    return match["message"], produced, int(match["counter"] or 1)
