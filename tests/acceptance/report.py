"""The report of an acceptance run, to attach to a bug report: every check with its result and
reason, the versions the services report, and the timings measured. It holds no secret: every
secret output of the stack is replaced before the report is written, and checked absent after."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field

from components.platform import SERVICES
from tests.acceptance.live import PROJECT_DIR, TIMEOUT, Live

REDACTED = "[secret]"


@dataclass(frozen=True)
class Outcome:
    group: str
    check: str
    result: str  # passed | failed | skipped
    reason: str
    seconds: float


def command_output(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    return done.stdout.strip() if done.returncode == 0 else f"unknown ({done.stderr.strip()[:200]})"


@dataclass
class Report:
    live: Live
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def version(self, service: str, value: str) -> None:
        self.versions[service] = value

    def timing(self, what: str, seconds: float) -> None:
        self.timings[what] = seconds

    def redact(self, text: str) -> str:
        for secret in sorted(self.live.secret_values(), key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def render(self) -> str:
        counts = {r: sum(o.result == r for o in self.outcomes) for r in ("passed", "failed", "skipped")}
        commit = command_output("git", "-C", str(PROJECT_DIR), "describe", "--always", "--dirty", "--abbrev=12")
        lines = [
            f"# mlops-stack verify: stack `{self.live.stack}`",
            "",
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.started))}, "
            f"{time.time() - self.started:.0f} s: **{counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped**",
            "",
            f"- mlops-stack: {commit}",
            f"- pulumi: {command_output('pulumi', 'version')}",
            f"- docker engine: {command_output('docker', 'version', '--format', '{{.Server.Version}}')}",
            "",
            "## Services",
            "",
            "| service | image (stack config) | what runs | version it reports |",
            "|---|---|---|---|",
        ]
        for spec in SERVICES:
            enabled = self.live.enabled(spec.name)
            lines.append(
                f"| {spec.name} | {self.live.image(spec.name) if enabled else '-'} | {self.live.kind(spec.name)} "
                f"| {self.versions.get(spec.name, '-')} |"
            )
        lines += ["", "## Checks", "", "| result | check | reason | s |", "|---|---|---|---|"]
        for o in self.outcomes:
            reason = " ".join(o.reason.split()).replace("|", "\\|")
            lines.append(f"| {o.result.upper()} | {o.group}: {o.check} | {reason} | {o.seconds:.1f} |")
        lines += ["", "## Timings", ""]
        lines += [f"- {what}: {seconds:.1f} s" for what, seconds in self.timings.items()] or ["- none measured"]
        text = self.redact("\n".join(lines) + "\n")
        leaked = [s for s in self.live.secret_values() if s in text]
        assert not leaked, "the report would hold a secret"  # redact() makes this unreachable: kept as a guard
        return text
