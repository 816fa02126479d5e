"""Container conventions that must match what Docker reports back (no drift on refresh)."""

from __future__ import annotations

import re

import pytest

from components.base import go_duration
from tests.unit.conftest import Evaluation


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (30, "30s"), (60, "1m0s"), (90, "1m30s"), (120, "2m0s")])
def test_durations_are_written_as_docker_reads_them(seconds: int, text: str) -> None:
    assert go_duration(seconds) == text


def test_every_container_sets_its_swap_to_its_memory(dev: Evaluation) -> None:
    for container in dev.of_type("docker:index/container:Container"):
        assert container.inputs["memorySwap"] == container.inputs["memory"], container.name
        healthcheck = container.inputs.get("healthcheck") or {}
        for key in ("interval", "startPeriod", "timeout"):
            if key in healthcheck:  # Go's form: minutes, then seconds under 60
                assert re.fullmatch(r"([1-9]\d*m)?[1-5]?\ds", healthcheck[key]), (container.name, healthcheck)
