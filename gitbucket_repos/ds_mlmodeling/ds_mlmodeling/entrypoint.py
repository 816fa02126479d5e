"""Training job entrypoint: train a model on a data version, or judge a model version for promotion.

    python -P -m ds_mlmodeling.entrypoint train
    python -P -m ds_mlmodeling.entrypoint promote

Configured by environment variables only (README.md, "Environment"). ``train``: check that
MLflow answers, pick the data tag (``DATA_TAG``, else the newest on the remote), shallow
clone the data repository at it, ``dvc pull`` the features, check their md5 against the
pointer, find the data job's MLflow run of that tag, then train, log one run (params,
metrics, lineage tags, the dataset input, the model) and register the model as
``MODEL_NAME`` with the lineage tags. ``promote``: evaluate ``MODEL_VERSION`` and the
current ``champion`` on the evaluation split of the version's data tag; move the alias
only if the candidate is strictly better; record the outcome on the version.

Stdout carries exactly one line, the last one: the result as JSON. Everything else goes
to stderr, with every secret masked. Exit status 0 on success (also when a model is not
promoted), 1 when a step fails (``ERROR [<step>] <message>``), 2 on bad configuration
(every problem listed at once).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Protocol, TextIO
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ds_mlmodeling.datatags import is_data_tag, newest_data_tag
from ds_mlmodeling.errors import ConfigError, PipelineError
from ds_mlmodeling.gitdata import Runner, fetch_data, log, remote_tags

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from ds_mlmodeling.lineage import DataVersion

COMMANDS = ("train", "promote")
DEFAULT_EXPERIMENT = "ds_mlmodeling"
DEFAULT_DATA_EXPERIMENT = "de_datapreprocessing"
DEFAULT_MODEL_NAME = "churn_model"
UNKNOWN_COMMIT = "unknown"
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
# The first call to MLflow must fail fast when the server is down (about 20 s at most:
# two attempts of 10 s); later calls get more patience unless the environment says otherwise.
PREFLIGHT_HTTP = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
RUN_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def redact_url(url: str) -> str:
    """The URL without user information (for logs, errors and lineage records)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


@dataclass(frozen=True)
class Config:
    command: str
    repo_url: str
    git_username: str
    git_password: str
    data_tag: str
    s3_endpoint: str
    tracking_uri: str
    experiment: str
    data_experiment: str
    model_name: str
    model_version: str
    code_commit: str

    @classmethod
    def from_env(cls, command: str, env: Mapping[str, str]) -> Config:
        problems: list[str] = []
        if command not in COMMANDS:
            problems.append(f"unknown command {command!r}: use one of {', '.join(COMMANDS)}")

        raw_url = env.get("DATA_REPO_URL", "").strip()
        username, password = env.get("GIT_USERNAME", ""), env.get("GIT_PASSWORD", "")
        if not raw_url:
            problems.append(
                "DATA_REPO_URL is not set (the de_datapreprocessing git repository, "
                "e.g. http://gitbucket:8080/git/root/de_datapreprocessing.git)"
            )
        else:
            parts = urlsplit(raw_url)
            if parts.scheme not in ("http", "https", "file"):
                problems.append(f"DATA_REPO_URL must be an http(s) URL, got scheme {parts.scheme or 'none'!r}")
            # user:password@ in the URL: used as the credentials, kept out of git's view.
            if parts.username is not None and not username:
                username = unquote(parts.username)
            if parts.password is not None and not password:
                password = unquote(parts.password)
        if _has_control(username + password):
            problems.append("GIT_USERNAME / GIT_PASSWORD contain control characters")

        data_tag = env.get("DATA_TAG", "").strip()
        if data_tag and not is_data_tag(data_tag):
            problems.append(f"DATA_TAG={data_tag!r} is not a data tag CV_<message>_DV_<YYYYMMDDTHHMMSSZ>[_<n>]")

        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if not env.get(name, ""):
                problems.append(f"{name} is not set (dvc pull reads the data from S3 with it)")
        s3_endpoint = env.get("DVC_S3_ENDPOINT_URL", "").strip()
        if s3_endpoint and urlsplit(s3_endpoint).scheme not in ("http", "https"):
            problems.append(f"DVC_S3_ENDPOINT_URL={s3_endpoint!r} must be an http(s) URL")

        tracking_uri = env.get("MLFLOW_TRACKING_URI", "").strip().rstrip("/")
        if not tracking_uri:
            problems.append("MLFLOW_TRACKING_URI is not set (the MLflow server, e.g. http://mlflow:5000)")
        else:
            parts = urlsplit(tracking_uri)
            if parts.scheme not in ("http", "https", "sqlite"):
                problems.append(f"MLFLOW_TRACKING_URI={redact_url(tracking_uri)!r} must be an http(s) URL")
            elif parts.username is not None or parts.password is not None:
                problems.append(
                    "MLFLOW_TRACKING_URI must not hold credentials: use MLFLOW_TRACKING_USERNAME / _PASSWORD"
                )
        if bool(env.get("MLFLOW_TRACKING_USERNAME")) != bool(env.get("MLFLOW_TRACKING_PASSWORD")):
            problems.append("MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together")

        experiment = env.get("MLFLOW_EXPERIMENT_NAME", "").strip() or DEFAULT_EXPERIMENT
        data_experiment = env.get("DATA_EXPERIMENT_NAME", "").strip() or DEFAULT_DATA_EXPERIMENT
        for name, value in (("MLFLOW_EXPERIMENT_NAME", experiment), ("DATA_EXPERIMENT_NAME", data_experiment)):
            if _has_control(value):
                problems.append(f"{name} contains control characters")
        model_name = env.get("MODEL_NAME", "").strip() or DEFAULT_MODEL_NAME
        if not _MODEL_NAME.fullmatch(model_name):
            problems.append(f"MODEL_NAME={model_name!r} must be letters, digits, '.', '_' or '-' (at most 200)")
        model_version = env.get("MODEL_VERSION", "").strip()
        if command == "promote":
            if not model_version:
                problems.append("MODEL_VERSION is not set (the registered version to consider for promotion)")
            elif not re.fullmatch(r"[1-9][0-9]{0,9}", model_version):
                problems.append(f"MODEL_VERSION={model_version!r} must be a version number (1, 2, ...)")
        code_commit = env.get("MODEL_CODE_COMMIT", "").strip() or UNKNOWN_COMMIT
        if _has_control(code_commit) or len(code_commit) > 200:
            problems.append("MODEL_CODE_COMMIT must be a commit id")

        if problems:
            raise ConfigError("; ".join(problems))
        return cls(
            command=command,
            repo_url=redact_url(raw_url),
            git_username=username,
            git_password=password,
            data_tag=data_tag,
            s3_endpoint=s3_endpoint,
            tracking_uri=tracking_uri,
            experiment=experiment,
            data_experiment=data_experiment,
            model_name=model_name,
            model_version=model_version,
            code_commit=code_commit,
        )

    def secrets(self, env: Mapping[str, str]) -> list[str]:
        """Every secret value, as given and URL-encoded (as it may appear in a URL)."""
        values = {self.git_password, *(env.get(name, "") for name in SECRET_VARIABLES)}
        values |= {quote(v, safe="") for v in values}
        return sorted((v for v in values if v), key=len, reverse=True)


class _Result(Protocol):
    def to_json(self) -> str: ...


class MaskedStream(io.TextIOBase):
    """A text stream that writes whole lines to ``target`` with every secret replaced by ***."""

    def __init__(self, target: TextIO, secrets: Sequence[str]) -> None:
        self.target = target
        self.secrets = list(secrets)
        self.pending = ""

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            complete, _, self.pending = self.pending.rpartition("\n")
            self.target.write(self._mask(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.target.write(self._mask(self.pending))
            self.pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def masked_output(secrets: Sequence[str]) -> Iterator[MaskedStream]:
    """Within: stdout goes to stderr, both masked. Yields the masked real stdout, for the result."""
    real_stdout, real_stderr = sys.stdout, sys.stderr
    out, err = MaskedStream(real_stdout, secrets), MaskedStream(real_stderr, secrets)
    sys.stdout, sys.stderr = err, err
    try:
        yield out
    finally:
        err.flush()
        out.flush()
        sys.stdout, sys.stderr = real_stdout, real_stderr


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set, restored afterwards (MLflow reads these per call)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def tracking_client(config: Config) -> MlflowClient:
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.tracking_uri)
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def check_tracking(client: MlflowClient, uri: str) -> None:
    """One cheap authenticated call, before anything else happens."""
    with environ(PREFLIGHT_HTTP):
        try:
            client.search_experiments(max_results=1)
        except Exception as error:
            text = " ".join(str(error).split())
            if re.search(r"\b401\b|unauthori[sz]ed|not authenticated", text, re.IGNORECASE):
                reason = "it refused the account (HTTP 401): check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
            elif re.search(r"\b403\b|permission", text, re.IGNORECASE):
                reason = "the account may not read experiments (HTTP 403)"
            else:
                reason = f"no answer from an MLflow server there ({type(error).__name__}: {text[:400]})"
            raise PipelineError("mlflow", f"MLflow at {redact_url(uri)}: {reason}") from None


def resolve_tag(runner: Runner, wanted: str) -> tuple[str, str]:
    """(tag, commit): ``wanted`` if the remote has it, else (empty) the newest data tag."""
    tags = remote_tags(runner)
    if wanted:
        if wanted not in tags:
            raise PipelineError("data tag", f"{wanted!r} does not exist in {runner.repo_url}")
        return wanted, tags[wanted]
    newest = newest_data_tag(tags)
    if newest is None:
        raise PipelineError(
            "data tag",
            f"{runner.repo_url} has no data tag (CV_<message>_DV_<time>) yet: run the preprocessing pipeline first",
        )
    log(f"newest data tag: {newest}")
    return newest, tags[newest]


def _runner(config: Config, env: Mapping[str, str], work_dir: Path) -> Runner:
    private = work_dir / "private"
    private.mkdir(mode=0o700)
    return Runner(config.repo_url, config.git_username, config.git_password, env, private, config.secrets(env))


def _data_loader(
    config: Config, runner: Runner, work_dir: Path
) -> Callable[[str, str], tuple[DataVersion, pd.DataFrame]]:
    def load(tag: str, commit: str) -> tuple[DataVersion, pd.DataFrame]:
        from ds_mlmodeling.data import load_features
        from ds_mlmodeling.lineage import DataVersion

        fetched = fetch_data(runner, tag, commit, work_dir, config.s3_endpoint)
        return DataVersion(tag, fetched.md5, config.repo_url), load_features(fetched.data_file)

    return load


def run_train(config: Config, env: Mapping[str, str], work_dir: Path) -> _Result:
    from ds_mlmodeling.lineage import find_data_run
    from ds_mlmodeling.registry import TrainSettings, train_and_register

    client = tracking_client(config)
    check_tracking(client, config.tracking_uri)
    runner = _runner(config, env, work_dir)
    tag, commit = resolve_tag(runner, config.data_tag)
    data, frame = _data_loader(config, runner, work_dir)(tag, commit)
    data_run = find_data_run(client, config.data_experiment, data)
    log(f"data run {data_run.run_id} of {data_run.experiment}; training on {len(frame)} rows")
    result = train_and_register(
        client, frame, data, data_run, TrainSettings(config.experiment, config.model_name, config.code_commit)
    )
    log(
        f"registered {result.model_name} version {result.model_version} (run {result.run_id}, "
        f"roc_auc {result.metrics['roc_auc']:.6f})"
    )
    return result


def run_promote(config: Config, env: Mapping[str, str], work_dir: Path) -> _Result:
    from ds_mlmodeling.promotion import promote

    client = tracking_client(config)
    check_tracking(client, config.tracking_uri)
    runner = _runner(config, env, work_dir)
    load = _data_loader(config, runner, work_dir)

    def load_eval_data(tag: str) -> tuple[DataVersion, pd.DataFrame]:
        return load(*resolve_tag(runner, tag))

    result = promote(client, config.model_name, config.model_version, load_eval_data, work_dir)
    log(result.detail)
    return result


RUNNERS: dict[str, Callable[[Config, Mapping[str, str], Path], _Result]] = {
    "train": run_train,
    "promote": run_promote,
}


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    if args and args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 0
    if len(args) > 1:
        log(f"ERROR configuration: one command expected ({' or '.join(COMMANDS)}), got {args!r}")
        return 2
    try:
        config = Config.from_env(args[0] if args else "train", env)
    except ConfigError as error:
        log(f"ERROR configuration: {error}")
        return 2
    http_defaults = {k: v for k, v in RUN_HTTP_DEFAULTS.items() if not os.environ.get(k)}
    with masked_output(config.secrets(env)) as stdout, environ(http_defaults):
        work_dir = Path(tempfile.mkdtemp(prefix="ds-mlmodeling-"))  # mode 0700
        try:
            log(f"{config.command}: model {config.model_name}, code {config.code_commit}")
            result = RUNNERS[config.command](config, env, work_dir)
        except PipelineError as error:
            log(f"ERROR [{error.step}] {error.message}")
            return 1
        except Exception as error:
            traceback.print_exc()
            log(f"ERROR [internal] {type(error).__name__}: {' '.join(str(error).split())[:500]}")
            return 1
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        sys.stderr.flush()
        print(result.to_json(), file=stdout, flush=True)
    return 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Airflow stops a task with SIGTERM: unwind, so that an open MLflow run ends FAILED and
    # the temporary directory is removed.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
