"""Getting a data version: the data repository's tags, a shallow clone at a tag, ``dvc pull``.

git and dvc hold the credentials, so they are handed over the way de_datapreprocessing
does: git asks a credential helper (set through ``GIT_CONFIG_*`` variables) that prints
``GIT_USERNAME`` / ``GIT_PASSWORD`` from the environment, never a command line, a URL or a
file; boto (inside dvc) reads ``AWS_*`` from the environment. dvc runs as ``python -I -m
dvc``, so nothing in the clone is imported by it. Every command has a timeout, and its
output reaches the log with the secrets masked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ds_mlmodeling.data import DATA_PATH, POINTER_PATH, verify_md5
from ds_mlmodeling.errors import PipelineError

CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    "printf 'username=%s\\n' \"$GIT_USERNAME\"; printf 'password=%s\\n' \"$GIT_PASSWORD\"; }; f"
)
DVC_REMOTE = "storage"  # the remote named in the data repository's committed .dvc/config
GIT_TIMEOUT = 120
CLONE_TIMEOUT = 300
DVC_TIMEOUT = 900


def log(message: str) -> None:
    print(f"[ds_mlmodeling] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Fetched:
    tag: str
    commit: str
    data_file: Path
    md5: str


class Runner:
    """Runs git and dvc with the credentials in their environment; output goes to stderr, masked."""

    def __init__(
        self,
        repo_url: str,
        username: str,
        password: str,
        base_env: Mapping[str, str],
        private_dir: Path,
        secrets: Sequence[str] = (),
    ) -> None:
        self.repo_url = repo_url
        self.secrets = sorted({s for s in (password, *secrets) if s}, key=len, reverse=True)
        env = {k: v for k, v in base_env.items() if k not in ("GIT_ASKPASS", "SSH_ASKPASS", "GIT_DIR")}
        env.update(
            HOME=str(private_dir),  # git's and dvc's global config and caches: this run's only
            TMPDIR=str(private_dir),
            DVC_SITE_CACHE_DIR=str(private_dir / "dvc-site-cache"),
            DVC_NO_ANALYTICS="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_USERNAME=username,
            GIT_PASSWORD=password,
            # A stalled transfer fails instead of hanging until the timeout.
            GIT_HTTP_LOW_SPEED_LIMIT="1000",
            GIT_HTTP_LOW_SPEED_TIME="60",
            LC_ALL="C",
        )
        # Append to any GIT_CONFIG_* the caller set; the empty value first resets helpers
        # configured elsewhere (system or global config).
        count = int(env.get("GIT_CONFIG_COUNT") or 0)
        for key, value in (
            ("credential.helper", ""),
            ("credential.helper", CREDENTIAL_HELPER),
            ("advice.detachedHead", "false"),
        ):
            env[f"GIT_CONFIG_KEY_{count}"] = key
            env[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
        env["GIT_CONFIG_COUNT"] = str(count)
        self.env = env

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def run(self, args: Sequence[str], cwd: Path | None, step: str, timeout: float) -> str:
        try:
            proc = subprocess.run(
                list(args),
                cwd=cwd,
                env=self.env,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PipelineError(step, f"no result after {timeout:.0f} s (server unreachable or too slow?)") from None
        except OSError as error:
            raise PipelineError(step, f"cannot run {args[0]}: {error.strerror}") from None
        output = self.scrub((proc.stdout or "") + (proc.stderr or "")).rstrip()
        if proc.returncode != 0:
            for line in output.splitlines()[-40:]:
                print(f"    {line}", file=sys.stderr)
            raise PipelineError(step, self.explain(step, output, proc.returncode))
        return self.scrub(proc.stdout or "").strip()

    def git(self, *args: str, cwd: Path | None, step: str, timeout: float = GIT_TIMEOUT) -> str:
        return self.run(["git", *args], cwd, step, timeout)

    def dvc(self, *args: str, cwd: Path, step: str) -> str:
        # -I: neither the working directory (the clone) nor PYTHON* variables shape sys.path.
        return self.run([sys.executable, "-I", "-m", "dvc", *args], cwd, step, DVC_TIMEOUT)

    def explain(self, step: str, output: str, code: int) -> str:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"(ERROR|error|fatal)\b", line)]
        last = (errors or lines or [f"exit status {code}"])[-1]
        lowered = output.lower()
        if step.startswith("git"):
            if any(
                s in lowered
                for s in (
                    "authentication failed",
                    "could not read username",
                    "could not read password",
                    "returned error: 401",
                    "returned error: 403",
                )
            ):
                return (
                    f"authentication to {self.repo_url} was refused "
                    f"(check GIT_USERNAME / GIT_PASSWORD; git said: {last})"
                )
            if any(
                s in lowered
                for s in ("could not resolve host", "failed to connect", "connection refused", "couldn't connect")
            ):
                return f"git server unreachable at {self.repo_url} ({last})"
            if "not found" in lowered or "does not appear to be a git repository" in lowered:
                return f"no git repository at {self.repo_url} ({last})"
        if step == "dvc pull":
            if "neither locally nor on remote" in lowered:
                missing = [line for line in lines if re.match(r"md5: [0-9a-f]{32}$", line)]
                return (
                    f"the DVC remote has no (intact) copy of this data version ({', '.join(missing) or last}): "
                    "was it pushed?"
                )
            return (
                "could not download the data from the DVC remote "
                f"(S3 unreachable, bucket missing or credentials refused?): {last}"
            )
        return last


def remote_tags(runner: Runner) -> dict[str, str]:
    """{tag name: commit} of the data repository (annotated tags peeled to their commit)."""
    out = runner.git("ls-remote", "--tags", "--", runner.repo_url, cwd=None, step="git ls-remote")
    tags: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/"):
            continue
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            peeled[name.removesuffix("^{}")] = sha
        else:
            tags[name] = sha
    return {name: peeled.get(name, sha) for name, sha in tags.items()}


def fetch_data(runner: Runner, tag: str, commit: str, work_dir: Path, s3_endpoint: str) -> Fetched:
    """Shallow clone at ``tag``, ``dvc pull`` of the features, md5 checked against the pointer."""
    repo = work_dir / "repo"
    log(f"cloning {runner.repo_url} at {tag}")
    runner.git(
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--single-branch",
        "--branch",
        tag,
        "--",
        runner.repo_url,
        str(repo),
        cwd=work_dir,
        step="git clone",
        timeout=CLONE_TIMEOUT,
    )
    head = runner.git("rev-parse", "HEAD", cwd=repo, step="git rev-parse")
    if head != commit:
        raise PipelineError("data tag", f"{tag} moved while it was fetched ({commit[:12]} -> {head[:12]}); run again")
    if not (repo / POINTER_PATH).is_file():
        raise PipelineError("data tag", f"{tag} has no {POINTER_PATH}: it is not a data version")
    if s3_endpoint:
        # --local: .dvc/config.local, this clone only; the endpoint is not a secret anyway.
        runner.dvc("remote", "modify", "--local", DVC_REMOTE, "endpointurl", s3_endpoint, cwd=repo, step="dvc remote")
    log(f"dvc pull {POINTER_PATH}")
    runner.dvc("pull", POINTER_PATH, cwd=repo, step="dvc pull")
    md5 = verify_md5(repo / DATA_PATH, repo / POINTER_PATH)
    log(f"{DATA_PATH} md5 {md5} matches its pointer")
    return Fetched(tag, head, repo / DATA_PATH, md5)
