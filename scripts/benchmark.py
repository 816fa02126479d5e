"""Print the stack's speed and memory figures from one run (README, "Benchmarks").

Cold `up` to a healthy stack; the critical chain (the longest sequence of waits
along the stack's real dependencies, from the engine's events and the state) and
the intrinsic chain (MySQL ready -> database and user -> Airflow migration ->
Airflow healthy), with cold `up` as a ratio of each; a no-op `up`,
`preview`, `destroy`, the program's evaluation under mocks, the stack's
idle memory (`docker stats`; and the part monitoring adds), and the PR comment's cost: `python -m
preview_comment` against `pulumi preview --json` alone on the unchanged stack,
alternated, 3 runs each. Runs the `e2e` stack: needs the toolchain, a
Docker engine and the local images (scripts/test.sh sets all of them up).

    source scripts/env.sh && .venv/bin/python scripts/benchmark.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi import automation as auto

from tests.support import e2e_stack as e2e

# Prometheus and what runs only for it (Grafana cannot run offline: not in the e2e stack).
MONITORING_CONTAINERS = ("-prometheus", "-mysql-exporter", "-airflow-statsd", "-mlflow-metrics", "-grafana")


def timed(label: str, action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    seconds = time.monotonic() - start
    print(f"{label:<40} {seconds:8.1f} s", flush=True)
    return seconds


def mock_evaluation_seconds() -> float:
    """One evaluation of the program under Pulumi's mocks, in a fresh interpreter."""
    code = (
        "import time, tests.unit.conftest as c; t = time.monotonic(); "
        "c.evaluate(c.BASE_CONFIG); print(time.monotonic() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=e2e.PROJECT_DIR, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def cli_seconds(stack: auto.Stack, command: list[str]) -> float:
    """One run of a command in the stack's project, with its backend and passphrase (output discarded)."""
    start = time.monotonic()
    e2e.in_project(stack, command).check_returncode()
    return time.monotonic() - start


def comment_overhead(stack: auto.Stack) -> None:
    """preview_comment (which runs the preview itself) against the bare preview, alternated."""
    bare = ["pulumi", "preview", "--json", "--non-interactive", "--stack", stack.name]
    comment = [sys.executable, "-m", "preview_comment", "--stack", stack.name]
    runs: dict[str, list[float]] = {"pulumi preview --json": [], "python -m preview_comment": []}
    for _ in range(3):
        runs["pulumi preview --json"].append(cli_seconds(stack, bare))
        runs["python -m preview_comment"].append(cli_seconds(stack, comment))
    for label, seconds in runs.items():
        each = ", ".join(f"{x:.1f}" for x in seconds)
        print(f"{label + ' (median of 3)':<40} {statistics.median(seconds):8.1f} s   runs {each}")
    extra = statistics.median(runs["python -m preview_comment"]) - statistics.median(runs["pulumi preview --json"])
    print(f"{'preview-to-comment minus preview':<40} {extra:8.2f} s   (goal: at most 1 s)")


def main() -> int:
    reason = e2e.toolchain_missing()
    if reason:
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as scratch, e2e.e2e_stack(Path(scratch)) as stack:
        timings = e2e.Timings()
        preview = timed("preview (empty stack)", lambda: stack.preview())
        cold = timed("cold up to healthy", lambda: stack.up(on_event=timings.on_event))
        critical = timings.critical_chain(stack.export_stack().deployment)
        intrinsic = timings.intrinsic_chain()
        for label, chain in (("critical chain", critical), ("intrinsic chain", intrinsic)):
            print(f"{label:<40} {e2e.chain_seconds(chain):8.1f} s")
            for step in chain:
                print(f"    {step.name:<36} {step.start:6.1f} -> {step.end:6.1f} s")
        print(f"{'cold up / critical chain':<40} {cold / e2e.chain_seconds(critical):8.2f}")
        print(f"{'cold up / intrinsic chain':<40} {cold / e2e.chain_seconds(intrinsic):8.2f}")
        noop = timed("no-op up", lambda: stack.up())
        timed("preview (no change)", lambda: stack.preview())
        comment_overhead(stack)
        time.sleep(30)  # let start-up work settle before reading idle memory
        memory = e2e.idle_memory_mib()
        for name, mib in sorted(memory.items()):
            print(f"  idle memory {name:<34} {mib:8.1f} MiB")
        print(f"{'idle memory, whole stack':<40} {sum(memory.values()):8.1f} MiB")
        monitoring = sum(mib for name, mib in memory.items() if name.endswith(MONITORING_CONTAINERS))
        print(f"{'idle memory, what monitoring adds':<40} {monitoring:8.1f} MiB")
        timed("destroy", lambda: stack.destroy())
        print(f"{'no-op up / cold up':<40} {noop / cold:8.2f}")
        print(f"{'preview of an empty stack':<40} {preview:8.1f} s")
    print(f"{'program evaluation under mocks':<40} {mock_evaluation_seconds():8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
