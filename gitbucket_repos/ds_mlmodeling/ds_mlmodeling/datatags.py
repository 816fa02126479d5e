"""Data tags made by de_datapreprocessing: ``CV_<code message>_DV_<YYYYMMDDTHHMMSSZ>[_<n>]``.

The newest data version is the tag with the latest ``_DV_`` time; tags of the same second
are told apart by their counter (no suffix = 1, then ``_2``, ``_3``, ...), and, for a
deterministic choice between different code messages of the same second and counter, by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

MAX_MESSAGE_LENGTH = 100
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# Same grammar as de_datapreprocessing.tagging.TAG_PATTERN (the message part may itself
# contain "_DV_": the time is the last one).
TAG_PATTERN = re.compile(
    r"^CV_(?P<message>[A-Za-z0-9._-]{1,"
    + str(MAX_MESSAGE_LENGTH)
    + r"})_DV_(?P<time>\d{8}T\d{6}Z)(?:_(?P<counter>[2-9]|[1-9]\d+))?$"
)


def parse_data_tag(name: str) -> tuple[datetime, int] | None:
    """(produced_at in UTC, counter) of a data tag, None for any other name."""
    match = TAG_PATTERN.match(name)
    if not match:
        return None
    try:
        produced = datetime.strptime(match["time"], TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13: not a time the producer writes
        return None
    return produced, int(match["counter"] or 1)


def is_data_tag(name: str) -> bool:
    return parse_data_tag(name) is not None


def newest_data_tag(names: Iterable[str]) -> str | None:
    """The newest data tag among ``names`` (other names are ignored); None if there is none."""
    best: tuple[datetime, int, str] | None = None
    for name in names:
        parsed = parse_data_tag(name)
        if parsed is None:
            continue
        key = (parsed[0], parsed[1], name)
        if best is None or key > best:
            best = key
    return best[2] if best else None
