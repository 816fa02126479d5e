"""The e2e tier's own stack: made from Pulumi.e2e.yaml, never from what a user's `e2e` stack added to it."""

from __future__ import annotations

from pathlib import Path

from tests.support.e2e_stack import run_stack_settings


def test_a_users_salt_and_secrets_are_not_copied(tmp_path: Path) -> None:
    source = tmp_path / "Pulumi.e2e.yaml"
    source.write_text(
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  mlops-stack:secretSeed:\n    secure: v1:xyz\n"
        "  mlops-stack:mysql:\n    port: 13306\n"
    )
    assert run_stack_settings(source) == {"config": {"mlops-stack:mysql": {"port": 13306}}}
