"""The acceptance tier: checks of a live stack, run by `scripts/verify.sh <stack>` (and by the
e2e tier, through that same command). Without a stack to check, its tests are deselected."""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.live import STACK_VARIABLE, Live, StackUnreadable
from tests.acceptance.report import Outcome, Report

HERE = Path(__file__).resolve().parent
# The order a person would check a stack in: each group needs what the one before proved.
GROUPS = ("test_services", "test_wiring", "test_jenkins", "test_data_loop")
REPORT_VARIABLE = "MLOPS_VERIFY_REPORT"
report_key = pytest.StashKey[Report]()


def is_acceptance(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if is_acceptance(item)]
    if not os.environ.get(STACK_VARIABLE):
        if mine:
            config.hook.pytest_deselected(items=mine)
            items[:] = [item for item in items if not is_acceptance(item)]
        return
    order = {name: i for i, name in enumerate(GROUPS)}
    items.sort(key=lambda item: order.get(Path(str(item.path)).stem, len(GROUPS)) if is_acceptance(item) else -1)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Read the stack once, before any check: every check's outcome goes into its report."""
    if not os.environ.get(STACK_VARIABLE):
        return
    try:
        session.config.stash[report_key] = Report(Live.load())
    except StackUnreadable as error:
        pytest.exit(f"cannot read the stack: {error}", returncode=2)


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Report:
    if report_key not in pytestconfig.stash:
        pytest.skip(f"no stack to check: run scripts/verify.sh <stack> ({STACK_VARIABLE} is not set)")
    return pytestconfig.stash[report_key]


@pytest.fixture(scope="session")
def live(report: Report) -> Live:
    return report.live


def check_name(item: pytest.Item) -> tuple[str, str]:
    doc = (getattr(item, "function", None) and item.function.__doc__) or ""  # type: ignore[attr-defined]
    title = doc.strip().splitlines()[0] if doc.strip() else item.name.removeprefix("test_").replace("_", " ")
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        title += f" [{callspec.id}]"
    return Path(str(item.path)).stem.removeprefix("test_").replace("_", " "), title


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    if not is_acceptance(item) or report_key not in item.config.stash:
        return
    rep = outcome.get_result()
    group, title = check_name(item)
    record = item.config.stash[report_key].outcomes
    if rep.skipped:
        reason = rep.longrepr[2].removeprefix("Skipped: ") if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        record.append(Outcome(group, title, "skipped", reason, rep.duration))
    elif rep.failed:
        reason = call.excinfo.exconly() if call.excinfo else str(rep.longrepr)
        record.append(Outcome(group, title, "failed", f"{rep.when}: {reason[:600]}", rep.duration))
    elif rep.when == "call":
        record.append(Outcome(group, title, "passed", "", rep.duration))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if report_key not in config.stash:
        return
    text = config.stash[report_key].render()
    path = Path(
        os.environ.get(REPORT_VARIABLE)
        or Path.home()
        / ".cache"
        / "mlops-stack"
        / "reports"
        / f"verify-{os.environ[STACK_VARIABLE]}-{time.time():.0f}.md"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    terminalreporter.write_line("")
    for line in text.splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"\nreport written to {path} (no secret in it: attach it to a bug report)")
