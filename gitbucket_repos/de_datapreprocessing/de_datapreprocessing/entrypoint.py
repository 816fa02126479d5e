"""Pipeline entrypoint: clone, run the job at a code version, version the data with DVC, tag, push.

    python -m de_datapreprocessing.entrypoint

Configured by environment variables only (see README.md, "Environment"):

    GIT_REPO_URL (required)      http(s) URL of this repository (user:password@ in it is
                                 moved to the credential helper, never passed on)
    GIT_USERNAME, GIT_PASSWORD   credentials, handed to git by a credential helper that
                                 reads them from the environment (never in argv or a URL)
    GIT_BRANCH                   branch to version data on, default "main"
    CODE_REF                     branch, tag or commit of the code to run; default "" =
                                 head of GIT_BRANCH
    DVC_REMOTE_URL (required)    e.g. s3://de-datapreprocessing/dvcstore
    DVC_REMOTE_NAME              default "storage"
    DVC_S3_ENDPOINT_URL          S3 endpoint (falls back to AWS_ENDPOINT_URL), e.g. http://minio:9000
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
                                 S3 credentials, read from the environment by boto; never
                                 written to any file
    GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL
                                 identity of the data commit and tag, default
                                 "mlops-pipeline" <mlops-pipeline@localhost>
    DATA_SEED, DATA_ROWS         passed to the job (defaults in de_datapreprocessing.raw)
    WORK_DIR                     where to clone (kept); default a temporary directory (removed)
    JOB_ISOLATION                "user" (default): the job runs as JOB_USER, which needs this
                                 process to start as root (the image does); "none": the job
                                 runs as this process's user and CAN read its credentials
                                 (development only)
    JOB_USER                     user the job runs as, default "job" (the image's, uid 10001)

The job (code from the repository, at the requested commit: untrusted) never sees the
credentials. It runs as another uid than this process, so it cannot read
/proc/<this pid>/environ (the kernel's copy of the environment the container started with,
credentials included, whatever os.environ says later) nor ptrace this process; without
supplementary groups and with no_new_privs (setuid binaries do not raise it); in its own
session; with an environment of allowed names only (PATH, LANG, LC_*, TZ, DATA_*, a few
PYTHON*); in a copy of the checkout without .git (its working directory, the only place it
may write besides its HOME), from which only the output file comes back, opened without
following symlinks. git and dvc keep the credentials and run in this process's private
directories: the clone (mode 0700), TMPDIR and dvc's site cache; dvc runs as
``python -I -m dvc``, so a ``dvc`` package in the checkout is never imported instead.

Stdout carries exactly one line, the last one: JSON
``{"tag", "data_md5", "commit", "code_commit", "branch", "produced_at", "dvc_remote"}``.
Everything else (progress, git and dvc output) goes to stderr. Exit status 0 on success,
1 when a step fails (the message names the step), 2 on bad configuration.

Which commit the data goes on (the main branch is never rewritten or force-pushed):
- The *code commit* of a ref is the newest first-parent ancestor that is not a data
  commit (data commits carry the trailer ``Data-Pipeline: de_datapreprocessing``).
- If CODE_REF has the same code commit as the head of GIT_BRANCH, the data commit goes
  on top of that head and is pushed to GIT_BRANCH (a fast-forward).
- Otherwise (an older or different code version) it goes on the branch
  ``data/<first 12 hex of the code commit>``: on top of that branch if it exists, else
  as a child of the code commit.
- If the pointer files did not change (same code, same data), no commit is made: the
  new tag points at the existing commit that already records this data.
- The tag is annotated, named by ``tagging.tag_name`` from the code commit's subject and
  the UTC time the job finished; a name already on the server gets ``_2``, ``_3``, ...
- Branch and tag are pushed in one atomic push where the server supports it. Data is
  pushed to the DVC remote *before* anything is pushed to git, so a tag never points at
  data the remote lacks.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from de_datapreprocessing import lineage
from de_datapreprocessing.tagging import subject, tag_name, unique_tag_name

DATA_PATH = "data/processed/features.csv"
PIPELINE_TRAILER = "Data-Pipeline: de_datapreprocessing"
DEFAULT_AUTHOR = "mlops-pipeline"
DEFAULT_EMAIL = "mlops-pipeline@localhost"
# Handed to git through GIT_CONFIG_* variables: reads the credentials from the
# environment at the moment git asks, so they never appear in argv, a URL or a file.
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    "printf 'username=%s\\n' \"$GIT_USERNAME\"; printf 'password=%s\\n' \"$GIT_PASSWORD\"; }; f"
)
DEFAULT_JOB_USER = "job"
# The job's environment: these names and prefixes only (never a credential, a URL, GIT_*).
JOB_ENV_NAMES = frozenset(
    ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUNBUFFERED", "PYTHONWARNINGS")
)
JOB_ENV_PREFIXES = ("DATA_", "LC_")
PR_SET_NO_NEW_PRIVS = 38
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ConfigError(Exception):
    """The environment does not describe a runnable pipeline."""


class PipelineError(Exception):
    """A step failed; ``step`` names it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


def log(message: str) -> None:
    print(f"[de_datapreprocessing] {message}", file=sys.stderr, flush=True)


def redact_url(url: str) -> str:
    """The URL without user information (for logs and errors)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


_BAD_IN_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def is_branch_name(name: str) -> bool:
    """What `git check-ref-format --branch` accepts: checked before anything runs, so a
    bad name fails at once instead of after the job and `dvc push`."""
    if not name or name == "@" or name.startswith(("-", "/")) or name.endswith(("/", ".")):
        return False
    if _BAD_IN_REF.search(name):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))


@dataclass(frozen=True)
class Config:
    repo_url: str
    username: str
    password: str
    branch: str
    code_ref: str
    remote_url: str
    remote_name: str
    s3_endpoint: str
    author_name: str
    author_email: str
    work_dir: Path | None
    job_isolation: str = "user"
    job_user: str = DEFAULT_JOB_USER
    tracking: lineage.TrackingConfig | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        problems: list[str] = []
        raw_url = env.get("GIT_REPO_URL", "").strip()
        username = env.get("GIT_USERNAME", "")
        password = env.get("GIT_PASSWORD", "")
        if not raw_url:
            problems.append("GIT_REPO_URL is not set")
        else:
            parts = urlsplit(raw_url)
            if parts.scheme not in ("http", "https", "file", "ssh", "git") and "://" in raw_url:
                problems.append(f"GIT_REPO_URL has an unsupported scheme {parts.scheme!r}")
            # user:password@ in the URL: use it as the credentials, keep it out of git's view.
            if parts.username is not None and not username:
                username = unquote(parts.username)
            if parts.password is not None and not password:
                password = unquote(parts.password)
        branch = env.get("GIT_BRANCH", "").strip() or "main"
        code_ref = env.get("CODE_REF", "").strip()
        for name, value in (("GIT_BRANCH", branch), ("CODE_REF", code_ref)):
            if value.startswith("-") or any(ord(c) < 32 or c == " " for c in value):
                problems.append(f"{name}={value!r} is not a valid git ref name")
        if not is_branch_name(branch):
            problems.append(f"GIT_BRANCH={branch!r} is not a branch name git accepts (git check-ref-format --branch)")
        remote_url = env.get("DVC_REMOTE_URL", "").strip()
        if not remote_url:
            problems.append("DVC_REMOTE_URL is not set (e.g. s3://de-datapreprocessing/dvcstore)")
        remote_name = env.get("DVC_REMOTE_NAME", "").strip() or "storage"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", remote_name):
            problems.append(f"DVC_REMOTE_NAME={remote_name!r} must be letters, digits, '-' or '_'")
        if any(ord(c) < 32 for c in username + password):
            problems.append("GIT_USERNAME / GIT_PASSWORD contain control characters")
        job_isolation = env.get("JOB_ISOLATION", "").strip() or "user"
        if job_isolation not in ("user", "none"):
            problems.append(f"JOB_ISOLATION={job_isolation!r} must be 'user' (default) or 'none'")
        job_user = env.get("JOB_USER", "").strip() or DEFAULT_JOB_USER
        tracking, tracking_problems = lineage.TrackingConfig.from_env(env)
        problems += tracking_problems
        if problems:
            raise ConfigError("; ".join(problems))
        work_dir = env.get("WORK_DIR", "").strip()
        return cls(
            repo_url=redact_url(raw_url),
            username=username,
            password=password,
            branch=branch,
            code_ref=code_ref,
            remote_url=remote_url,
            remote_name=remote_name,
            s3_endpoint=(env.get("DVC_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or "").strip(),
            author_name=env.get("GIT_AUTHOR_NAME", "").strip() or DEFAULT_AUTHOR,
            author_email=env.get("GIT_AUTHOR_EMAIL", "").strip() or DEFAULT_EMAIL,
            work_dir=Path(work_dir) if work_dir else None,
            job_isolation=job_isolation,
            job_user=job_user,
            tracking=tracking,
        )


@dataclass(frozen=True)
class JobUser:
    """The unprivileged user the job runs as."""

    name: str
    uid: int
    gid: int


def resolve_job_user(config: Config) -> JobUser | None:
    """The user the job runs as; None = this process's own user (JOB_ISOLATION=none)."""
    if config.job_isolation == "none":
        return None
    try:
        entry = pwd.getpwuid(int(config.job_user)) if config.job_user.isdigit() else pwd.getpwnam(config.job_user)
    except (KeyError, OverflowError):
        raise ConfigError(f"JOB_USER={config.job_user!r} is not a user of this system") from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise ConfigError(f"JOB_USER={config.job_user!r} is root or in group root: the job must run unprivileged")
    if os.geteuid() != 0:
        raise ConfigError(
            f"the job must run as JOB_USER={config.job_user!r} so that it cannot read this process's credentials, "
            "and switching to that user needs the entrypoint to start as root (the image's user: do not override "
            "it). JOB_ISOLATION=none runs the job as this process's user instead, which hands the credentials "
            "to the job's code: only for code you trust"
        )
    return JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True)
class Result:
    tag: str
    data_md5: str
    commit: str
    code_commit: str
    branch: str
    produced_at: str
    dvc_remote: str
    mlflow_run_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def job_environment(base_env: Mapping[str, str], work: Path, home: Path) -> dict[str, str]:
    """The job's whole environment: allowed names from ``base_env``, its own HOME and TMPDIR."""
    env = {k: v for k, v in base_env.items() if k in JOB_ENV_NAMES or k.startswith(JOB_ENV_PREFIXES)}
    env.update(HOME=str(home), TMPDIR=str(home), PYTHONPATH=str(work), PYTHONDONTWRITEBYTECODE="1", LC_ALL="C")
    return env


class Runner:
    """Runs git / dvc (which hold the credentials) with a prepared environment; output goes to stderr."""

    def __init__(self, config: Config, base_env: Mapping[str, str], private_dir: Path | None = None) -> None:
        self.config = config
        self.base_env = dict(base_env)
        tracking_password = config.tracking.password if config.tracking else None
        self.secrets = [
            s
            for s in (
                config.password,
                base_env.get("AWS_SECRET_ACCESS_KEY"),
                base_env.get("AWS_SESSION_TOKEN"),
                tracking_password,
            )
            if s
        ]
        env = {k: v for k, v in base_env.items() if k not in ("GIT_ASKPASS", "SSH_ASKPASS", "GIT_DIR")}
        if private_dir is not None:
            # Temporary files and dvc's site cache (default /var/tmp/dvc, writable by anyone)
            # in a directory of this process only.
            env.update(TMPDIR=str(private_dir), DVC_SITE_CACHE_DIR=str(private_dir / "dvc-site-cache"))
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_USERNAME=config.username,
            GIT_PASSWORD=config.password,
            GIT_AUTHOR_NAME=config.author_name,
            GIT_AUTHOR_EMAIL=config.author_email,
            GIT_COMMITTER_NAME=env.get("GIT_COMMITTER_NAME") or config.author_name,
            GIT_COMMITTER_EMAIL=env.get("GIT_COMMITTER_EMAIL") or config.author_email,
            DVC_NO_ANALYTICS="1",
            LC_ALL="C",
        )
        # Append to any GIT_CONFIG_* the caller set; the empty value first resets
        # helpers configured elsewhere (system or global config).
        count = int(env.get("GIT_CONFIG_COUNT") or 0)
        for key, value in (("credential.helper", ""), ("credential.helper", CREDENTIAL_HELPER)):
            env[f"GIT_CONFIG_KEY_{count}"] = key
            env[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
        env["GIT_CONFIG_COUNT"] = str(count)
        self.env = env

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _echo(self, output: str, step: str, failed: bool) -> None:
        if output and (failed or step in ("job", "dvc push")):
            for line in output.splitlines()[-40:]:
                print(f"    {line}", file=sys.stderr)

    def run(
        self,
        args: Sequence[str],
        cwd: Path | None,
        step: str,
        *,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            check=False,
        )
        output = self._scrub((proc.stdout or "") + (proc.stderr or "")).rstrip()
        self._echo(output, step, proc.returncode != 0)
        if check and proc.returncode != 0:
            raise PipelineError(step, self._explain(step, output, proc.returncode))
        return proc

    def git(self, *args: str, cwd: Path | None, step: str, check: bool = True) -> str:
        return self.run(["git", *args], cwd, step, check=check).stdout.strip()

    def dvc(self, *args: str, cwd: Path, step: str) -> str:
        # -I: neither the working directory (the checkout) nor PYTHON* variables shape sys.path,
        # so no file of the repository is imported by a process that holds the credentials.
        return self.run([sys.executable, "-I", "-m", "dvc", *args], cwd, step).stdout.strip()

    def job(self, args: Sequence[str], sandbox: JobSandbox, user: JobUser | None) -> None:
        """Run the job in ``sandbox`` as ``user``; the credentials are out of its reach."""
        env = job_environment(self.base_env, sandbox.work, sandbox.home)
        with tempfile.TemporaryFile() as output:
            try:
                proc = subprocess.Popen(
                    list(args),
                    cwd=sandbox.work,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    user=user.uid if user else None,
                    group=user.gid if user else None,
                    extra_groups=[] if user else None,
                    preexec_fn=_no_new_privileges() if user else None,
                )
            except (OSError, subprocess.SubprocessError) as error:
                who = f" as user {user.name!r}" if user else ""
                raise PipelineError("job", f"could not start the job{who}: {error}") from error
            try:
                code = proc.wait()
            finally:
                # Whatever the job left running in its session goes with it (a process that
                # left the session lives on, as the job's user: it reaches no credential).
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            output.seek(0)
            text = self._scrub(output.read().decode("utf-8", "replace")).rstrip()
        self._echo(text, "job", code != 0)
        if code != 0:
            raise PipelineError("job", self._explain("job", text, code))

    def _explain(self, step: str, output: str, code: int) -> str:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"(ERROR|error|fatal)\b", line)]
        last = (errors or lines or [f"exit status {code}"])[-1]
        lowered = output.lower()
        url = self.config.repo_url
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
                return f"authentication to {url} was refused (check GIT_USERNAME / GIT_PASSWORD; git said: {last})"
            if any(
                s in lowered
                for s in ("could not resolve host", "failed to connect", "connection refused", "couldn't connect")
            ):
                return f"git server unreachable at {url} ({last})"
            if "non-fast-forward" in lowered or "fetch first" in lowered or "[rejected]" in lowered:
                return (
                    f"the server refused the push ({last}): a branch or tag moved while the pipeline ran; "
                    "nothing was overwritten, run the pipeline again"
                )
        if step == "dvc push":
            return (
                f"could not upload the data to {self.config.remote_url}"
                f"{' at ' + self.config.s3_endpoint if self.config.s3_endpoint else ''} "
                f"(S3 unreachable, bucket missing or credentials refused?): {last}"
            )
        return last


def _no_new_privileges() -> Callable[[], None]:
    """A preexec function (it runs in the child after the switch to the job's user): set
    no_new_privs, so setuid binaries cannot give the job back any privilege."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def apply() -> None:
        zero = ctypes.c_ulong(0)
        if prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), zero, zero, zero) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")

    return apply


@dataclass(frozen=True)
class JobSandbox:
    """Where the job runs: ``work`` (a copy of the checkout without .git, its working
    directory) and ``home`` (its HOME and TMPDIR), both the job's own, inside a directory
    of this process that the job may traverse but not change."""

    root: Path
    work: Path
    home: Path

    @classmethod
    def create(cls, repo: Path, user: JobUser | None) -> JobSandbox:
        root = Path(tempfile.mkdtemp(prefix="de-preprocessing-job-"))
        try:
            root.chmod(0o711)
            work, home = root / "work", root / "home"
            # symlinks=True: links are copied as links, never followed by this process.
            shutil.copytree(repo, work, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            home.mkdir(mode=0o700)
            work.chmod(0o700)
            if user is not None:
                for top in (work, home):
                    os.chown(top, user.uid, user.gid)
                    for parent, dirs, files in os.walk(top):
                        for name in dirs + files:
                            os.chown(os.path.join(parent, name), user.uid, user.gid, follow_symlinks=False)
        except OSError as error:
            shutil.rmtree(root, ignore_errors=True)
            raise PipelineError("job", f"could not prepare the job's directory: {error}") from error
        return cls(root, work, home)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _open_parent(root: Path, relative: str, *, create: bool) -> tuple[int, str]:
    """(descriptor of the directory that holds ``relative`` under ``root``, file name), where
    no component is followed if it is a symlink; missing directories are made if ``create``."""
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise ValueError(f"{relative!r} is not a relative path inside the directory")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def copy_job_output(work: Path, repo: Path, relative: str) -> None:
    """Copy the job's output file from its sandbox into the clone: a regular file with one
    link, reached and written without following symlinks on either side."""
    try:
        source_dir, name = _open_parent(work, relative, create=False)
        try:
            source_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=source_dir)
        finally:
            os.close(source_dir)
    except FileNotFoundError:
        raise PipelineError("job", f"the job did not write {relative}") from None
    except OSError as error:
        raise PipelineError("job", f"the job's {relative} is not a regular file ({error.strerror})") from None
    with os.fdopen(source_fd, "rb") as source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise PipelineError("job", f"the job's {relative} is not a regular file with a single link")
        try:
            target_dir, name = _open_parent(repo, relative, create=True)
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=target_dir)
                target_fd = os.open(
                    name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=target_dir
                )
            finally:
                os.close(target_dir)
        except OSError as error:
            raise PipelineError("job", f"cannot write {relative} in the clone ({error.strerror})") from None
        with os.fdopen(target_fd, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)


def code_commit_of(runner: Runner, repo: Path, commit: str) -> str:
    """Newest first-parent ancestor of ``commit`` that is not a data commit."""
    found = runner.git(
        "log",
        "-1",
        "--first-parent",
        "--invert-grep",
        f"--grep=^{re.escape(PIPELINE_TRAILER)}$",
        "--format=%H",
        commit,
        "--",
        cwd=repo,
        step="git log",
    )
    if not found:
        raise PipelineError("CODE_REF", f"{commit} has only data commits in its history, no code commit")
    return found


def resolve_commit(runner: Runner, repo: Path, ref: str) -> str | None:
    for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
        proc = runner.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], repo, "git rev-parse", check=False
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    return None


def remote_refs(runner: Runner, repo: Path, kind: str) -> dict[str, str]:
    out = runner.git("ls-remote", f"--{kind}", "origin", cwd=repo, step="git ls-remote")
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        refs[ref.removesuffix("^{}")] = sha
    return refs


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_file_md5(path: Path) -> str:
    match = re.search(r"^\s*-?\s*md5:\s*([0-9a-f]{32})\s*$", path.read_text(), re.MULTILINE)
    if not match:
        raise PipelineError("dvc add", f"no md5 in {path.name}")
    return match.group(1)


def run_pipeline(
    config: Config, env: Mapping[str, str], work_dir: Path, job_user: JobUser | None, private_dir: Path | None = None
) -> Result:
    runner = Runner(config, env, private_dir)
    repo = work_dir / "repo"
    if repo.exists():
        raise PipelineError("setup", f"{repo} already exists; WORK_DIR must not hold an earlier clone")
    repo.mkdir(mode=0o700)  # the clone (and later the data) is this process's only

    # MLflow first: a run that cannot record its lineage fails before it changes anything.
    tracking, experiment_id = None, ""
    if config.tracking is not None:
        tracking = lineage.Tracking(config.tracking)
        log(f"lineage goes to MLflow at {config.tracking.uri}, experiment {config.tracking.experiment!r}")
        experiment_id = _lineage(tracking.experiment_id)

    log(f"cloning {config.repo_url}")
    runner.git("clone", "--quiet", "--no-checkout", "--", config.repo_url, str(repo), cwd=work_dir, step="git clone")

    head = (
        runner.git(
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/remotes/origin/{config.branch}^{{commit}}",
            cwd=repo,
            step="GIT_BRANCH",
            check=False,
        )
        or None
    )
    if head is None:
        raise PipelineError("GIT_BRANCH", f"branch {config.branch!r} does not exist in {config.repo_url}")
    if config.code_ref:
        ref_commit = resolve_commit(runner, repo, config.code_ref)
        if ref_commit is None:
            raise PipelineError(
                "CODE_REF", f"{config.code_ref!r} is not a branch, tag or commit of {config.repo_url}; nothing was run"
            )
    else:
        ref_commit = head
    code = code_commit_of(runner, repo, ref_commit)
    code_message = runner.git("log", "-1", "--format=%B", code, "--", cwd=repo, step="git log")
    log(f"code commit {code[:12]} ({subject(code_message)!r}); {config.branch} is at {head[:12]}")

    if code == code_commit_of(runner, repo, head):
        target, base = config.branch, head
    else:
        target = f"data/{code[:12]}"
        existing = runner.git(
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/remotes/origin/{target}^{{commit}}",
            cwd=repo,
            step="git rev-parse",
            check=False,
        )
        if existing and code_commit_of(runner, repo, existing) != code:
            raise PipelineError("CODE_REF", f"branch {target} exists but is not based on code commit {code}")
        base = existing or code
        log(f"code commit is not the head of {config.branch}: data goes on branch {target}")
    runner.git("checkout", "--quiet", "--detach", base, cwd=repo, step="git checkout")

    if not (repo / "de_datapreprocessing" / "job.py").is_file():
        raise PipelineError("job", f"code commit {code} has no de_datapreprocessing/job.py")
    who = f"user {job_user.name!r} (uid {job_user.uid})" if job_user else "this process's user (JOB_ISOLATION=none)"
    log(f"running the job of {code[:12]} as {who}")
    sandbox = JobSandbox.create(repo, job_user)
    try:
        runner.job([sys.executable, "-m", "de_datapreprocessing.job", "--output", DATA_PATH], sandbox, job_user)
        produced_at = datetime.now(UTC).replace(microsecond=0)
        copy_job_output(sandbox.work, repo, DATA_PATH)
    finally:
        sandbox.remove()
    data_file = repo / DATA_PATH

    if not (repo / ".dvc").is_dir():
        log("no .dvc/ in the repository: dvc init")
        runner.dvc("init", "--quiet", cwd=repo, step="dvc init")
    runner.dvc(
        "remote", "add", "--force", "--default", config.remote_name, config.remote_url, cwd=repo, step="dvc remote"
    )
    if config.s3_endpoint:
        # Committed (not secret): the remote names the store by its address on the
        # stack's network (http://minio:9000), so a clone in that network can `dvc pull`.
        runner.dvc(
            "remote",
            "modify",
            config.remote_name,
            "endpointurl",
            config.s3_endpoint,
            cwd=repo,
            step="dvc remote",
        )
    runner.dvc("add", "--quiet", DATA_PATH, cwd=repo, step="dvc add")
    pointer = repo / f"{DATA_PATH}.dvc"
    data_md5 = dvc_file_md5(pointer)
    if data_md5 != md5_of(data_file):
        raise PipelineError("dvc add", f"{pointer.name} records {data_md5}, the file hashes to {md5_of(data_file)}")
    log(f"data md5 {data_md5}; pushing to {config.remote_url}")
    runner.dvc("push", "--remote", config.remote_name, cwd=repo, step="dvc push")

    tracked = [
        f"{DATA_PATH}.dvc",
        str(Path(DATA_PATH).parent / ".gitignore"),
        ".dvc/config",
        ".dvc/.gitignore",
        ".dvcignore",
    ]
    runner.git("add", "--", *[p for p in tracked if (repo / p).exists()], cwd=repo, step="git add")
    staged = runner.run(["git", "diff", "--cached", "--quiet"], repo, "git diff", check=False).returncode != 0
    if staged:
        message = (
            f"data: {Path(DATA_PATH).name} md5 {data_md5}\n\n"
            f"Produced at {produced_at.isoformat()} by the de_datapreprocessing pipeline\n"
            f"from code commit {code} ({subject(code_message)}).\n\n"
            f"Code-Commit: {code}\nData-Md5: {data_md5}\n{PIPELINE_TRAILER}\n"
        )
        runner.git("commit", "--quiet", "--no-verify", "-m", message, cwd=repo, step="git commit")
    else:
        log("data pointer unchanged: no new commit, the tag goes on the existing one")
    commit = runner.git("rev-parse", "HEAD", cwd=repo, step="git rev-parse")

    tags = remote_refs(runner, repo, "tags")
    name = unique_tag_name(tag_name(code_message, produced_at), (ref.removeprefix("refs/tags/") for ref in tags))
    run_id = None
    if tracking is not None:
        run_id = record_lineage(tracking, experiment_id, config, repo, name, code, commit, data_md5)
    annotation = (
        f"Data version {data_md5} of {DATA_PATH}\n\n"
        f"Code-Commit: {code}\nData-Md5: {data_md5}\nProduced-At: {produced_at.isoformat()}\n"
        f"DVC-Remote: {config.remote_url}\n"
        + (f"MLflow-Run-Id: {run_id}\n" if run_id else "")
        + f"{PIPELINE_TRAILER}\n"
    )
    runner.git("tag", "--annotate", "--message", annotation, name, commit, cwd=repo, step="git tag")

    refspecs = [f"{commit}:refs/heads/{target}", f"refs/tags/{name}:refs/tags/{name}"]
    log(f"pushing {target} and tag {name}")
    try:
        push(runner, repo, refspecs)
    except PipelineError:
        if tracking is not None and run_id is not None:
            with contextlib.suppress(lineage.LineageError):  # the push error is the one to report
                tracking.end_run(run_id, "FAILED")
        raise
    if tracking is not None and run_id is not None:
        _lineage(lambda: tracking.end_run(run_id, "FINISHED"))

    return Result(
        tag=name,
        data_md5=data_md5,
        commit=commit,
        code_commit=code,
        branch=target,
        produced_at=produced_at.isoformat().replace("+00:00", "Z"),
        dvc_remote=config.remote_url,
        mlflow_run_id=run_id,
    )


def push(runner: Runner, repo: Path, refspecs: list[str]) -> None:
    """Branch and tag in one atomic push where the server supports it, else branch, then tag."""
    proc = runner.run(["git", "push", "--atomic", "--quiet", "origin", *refspecs], repo, "git push", check=False)
    if proc.returncode != 0 and "does not support --atomic" in (proc.stderr or ""):
        log("the server does not support atomic pushes: pushing the branch, then the tag")
        for spec in refspecs:
            runner.git("push", "--quiet", "origin", spec, cwd=repo, step="git push")
    elif proc.returncode != 0:
        raise PipelineError("git push", runner._explain("git push", runner._scrub(proc.stderr or ""), proc.returncode))


T = TypeVar("T")


def _lineage(call: Callable[[], T]) -> T:
    try:
        return call()
    except lineage.LineageError as error:
        raise PipelineError("mlflow", f"{error}; nothing was tagged") from None


def record_lineage(
    tracking: lineage.Tracking,
    experiment_id: str,
    config: Config,
    repo: Path,
    tag: str,
    code: str,
    commit: str,
    data_md5: str,
) -> str:
    """The data version's run (still RUNNING until the tag is pushed): its id, for the tag's annotation."""
    tags = {
        lineage.TAG_DATA_TAG: tag,
        lineage.TAG_DATA_MD5: data_md5,
        lineage.TAG_CODE_COMMIT: code,
        lineage.TAG_CODE_REF: config.code_ref or config.branch,
        lineage.TAG_DVC_PATH: DATA_PATH,
        lineage.TAG_DATA_COMMIT: commit,
        "mlflow.source.git.commit": code,
        "mlflow.source.git.repoURL": config.repo_url,
    }

    def record() -> str:
        run_id, artifact_uri = tracking.start_run(experiment_id, tag, tags)
        try:
            source = lineage.dataset_source(config.repo_url, tag, DATA_PATH, data_md5)
            tracking.log_dataset(run_id, digest=data_md5, source=source, context="produced")
            pointer = repo / f"{DATA_PATH}.dvc"
            tracking.upload_artifact(artifact_uri, pointer.name, pointer.read_bytes())
        except lineage.LineageError:
            with contextlib.suppress(lineage.LineageError):
                tracking.end_run(run_id, "FAILED")  # no tag will name it
            raise
        return run_id

    run_id = _lineage(record)
    log(f"lineage: MLflow run {run_id}")
    return run_id


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        config = Config.from_env(env)
        job_user = resolve_job_user(config)
    except ConfigError as error:
        log(f"ERROR configuration: {error}")
        return 2
    if job_user is None:
        log("WARNING JOB_ISOLATION=none: the job runs as this process's user and can read its credentials")
    work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="de-preprocessing-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    private_dir = Path(tempfile.mkdtemp(prefix="de-preprocessing-private-"))
    try:
        result = run_pipeline(config, env, work_dir, job_user, private_dir)
    except PipelineError as error:
        log(f"ERROR [{error.step}] {error.message}")
        return 1
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)
        if config.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    sys.stderr.flush()
    print(result.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
