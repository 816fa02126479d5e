"""The acceptance tier's report (tests/acceptance): what it says about a stack, and that it quotes no secret."""

from __future__ import annotations

from collections.abc import Mapping

from tests.acceptance.live import Live
from tests.acceptance.report import Outcome, Report


def live(**config: Mapping[str, object]) -> Live:
    outputs = {"mysqlHost": "127.0.0.1:3306", "mysqlRootPassword": "s3cr3t-root-pw", "gitbucketUrl": "http://x"}
    return Live("s", outputs, frozenset({"mysqlRootPassword"}), {k: {"objectValue": v} for k, v in config.items()})


def test_a_secret_quoted_by_a_failure_is_replaced() -> None:
    report = Report(live())
    report.outcomes.append(Outcome("services", "MySQL", "failed", "call: assert 's3cr3t-root-pw' == 'x'", 0.1))
    text = report.render()
    assert "s3cr3t-root-pw" not in text
    assert "| FAILED | services: MySQL | call: assert '[secret]' == 'x' | 0.1 |" in text
    assert "**0 passed, 1 failed, 0 skipped**" in text


def test_each_service_is_said_to_be_official_a_stand_in_a_fake_or_disabled() -> None:
    stack = live(
        **{
            "mlops-stack:mysql": {"image": "mlops-local/mysql:9.7"},
            "mlops-stack:gitbucket": {"image": "mlops-local/gitbucket-fake:test"},
        }
    )
    assert stack.kind("mysql") == "stand-in (offline/images)"
    assert stack.kind("gitbucket") == "FAKE (offline/fakes)"
    assert stack.kind("jenkins") == "disabled"
    assert live().kind("mysql") == "official image"
    assert "| mysql | mlops-local/mysql:9.7 | stand-in (offline/images) | - |" in Report(stack).render()
