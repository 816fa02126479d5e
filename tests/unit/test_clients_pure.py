"""Client logic that needs no service: hashes and input checks."""

from __future__ import annotations

import hashlib

import pytest

from mlops_clients import gitbucket, mysql
from mlops_clients.common import InputError


def test_pbkdf2_hash_has_gitbucket_format_and_verifies() -> None:
    stored = gitbucket.pbkdf2_hash("s3cret-pass", salt=b"\x00" * 32)
    assert stored.startswith("$pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$")
    assert gitbucket.password_matches("s3cret-pass", stored)
    assert not gitbucket.password_matches("s3cret-pasS", stored)


def test_gitbucket_seed_root_hash_is_understood() -> None:
    # GitBucket seeds root with SHA-1("root") (update/gitbucket-core_4.0.xml).
    seeded = "dc76e9f0c0006e8f919e0c515c66dbba3982f785"
    assert hashlib.sha1(b"root").hexdigest() == seeded  # noqa: S324
    assert gitbucket.password_matches("root", seeded)
    assert not gitbucket.password_matches("toor", seeded)


def test_malformed_stored_hash_never_matches() -> None:
    assert not gitbucket.password_matches("x", "$pbkdf2-sha256$notanumber$AAAA$BBBB")


@pytest.mark.parametrize("name", ["", "a-b", "a b", "x" * 33, "db;drop", "`x`"])
def test_mysql_identifiers_are_checked(name: str) -> None:
    with pytest.raises(InputError):
        mysql.ensure_database(None, name, "user", "password")
