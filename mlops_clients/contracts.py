"""What crosses the boundary between the Pulumi program and the clients it runs.

The program starts `python -m mlops_clients.<client> <action>` with inputs in
the environment; both sides import the names from here, so a renamed action or
variable breaks a test, not an `up`. Standard library only: the program
imports this at plan time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Client:
    """A client module and its actions, as `python -m mlops_clients.<module> <action>` runs them."""

    module: str
    actions: frozenset[str]

    def command(self, action: str) -> str:
        if action not in self.actions:
            raise ValueError(f"mlops_clients.{self.module} has no action '{action}' (has: {sorted(self.actions)})")
        return f"-m mlops_clients.{self.module} {action}"


class MySQLAction(StrEnum):
    ENSURE_DATABASE = "ensure-database"
    ENSURE_MONITOR = "ensure-monitor"  # the metrics exporter's account: server status only, no data


class S3Action(StrEnum):
    ENSURE_BUCKETS = "ensure-buckets"
    ENSURE_USER = "ensure-user"


class GitBucketAction(StrEnum):
    ENSURE_REPO = "ensure-repo"
    ENSURE_WEBHOOK = "ensure-webhook"
    SET_ROOT_PASSWORD = "set-root-password"  # noqa: S105 (an action name)
    ENSURE_ACCOUNT = "ensure-account"  # a plain (non-admin) account with a password
    ENSURE_COLLABORATOR = "ensure-collaborator"  # that account may write to a repository


class MLflowAction(StrEnum):
    # Run inside the MLflow image, before the server starts (mlops_clients.mlflow_server).
    PREPARE = "prepare"
    # Run by the model API's room once the server is up: its read-only account (REST, as the admin).
    GRANT_MODEL_API = "grant-model-api"
    # The server's metrics for Prometheus without a login: a sidecar reading its metrics directory.
    SERVE_METRICS = "serve-metrics"


MYSQL = Client("mysql", frozenset(MySQLAction))
S3 = Client("s3", frozenset(S3Action))
GITBUCKET = Client("gitbucket", frozenset(GitBucketAction))
MLFLOW_SERVER = Client("mlflow_server", frozenset(MLflowAction))


class MySQLEnv(StrEnum):
    """What the mysql client (and GitBucket's root-password step) read."""

    HOST = "MYSQL_HOST"
    PORT = "MYSQL_PORT"
    ROOT_PASSWORD = "MYSQL_ROOT_PASSWORD"  # noqa: S105 (a variable name)
    DB_NAME = "DB_NAME"
    DB_USER = "DB_USER"
    DB_PASSWORD = "DB_PASSWORD"  # noqa: S105


class S3Env(StrEnum):
    ENDPOINT = "S3_ENDPOINT"
    # The object store's root login, named as its config key and stack output (minioRootPassword).
    ROOT_USER = "MINIO_ROOT_USER"
    ROOT_PASSWORD = "MINIO_ROOT_PASSWORD"  # noqa: S105
    BUCKETS = "S3_BUCKETS"
    USER = "S3_USER"
    USER_SECRET = "S3_USER_SECRET"  # noqa: S105
    USER_BUCKETS = "S3_USER_BUCKETS"


class GitBucketEnv(StrEnum):
    URL = "GITBUCKET_URL"
    USER = "GITBUCKET_USER"  # who calls the API: root, in every set-up step
    PASSWORD = "GITBUCKET_PASSWORD"  # noqa: S105
    ROOT_PASSWORD = "GITBUCKET_ROOT_PASSWORD"  # noqa: S105
    # The automation account (ensured; made a collaborator), named as its secret gitbucketAutomationPassword.
    AUTOMATION_USER = "GITBUCKET_AUTOMATION_USER"
    AUTOMATION_PASSWORD = "GITBUCKET_AUTOMATION_PASSWORD"  # noqa: S105
    AUTOMATION_PERMISSION = "GITBUCKET_AUTOMATION_PERMISSION"  # its permission on REPO_NAME; push when unset
    REPO_NAME = "REPO_NAME"
    REPO_DESCRIPTION = "REPO_DESCRIPTION"
    REPO_OWNER = "REPO_OWNER"
    SEED_SOURCE = "SEED_SOURCE"
    SEED_BRANCH = "SEED_BRANCH"
    SEED_HASH = "SEED_HASH"
    HOOK_URL = "HOOK_URL"
    HOOK_EVENTS = "HOOK_EVENTS"  # HookEvent values, comma-separated; push when unset


class HookEvent(StrEnum):
    """GitBucket's webhook event names (WebHook.Event) that the program subscribes to."""

    PUSH = "push"
    PULL_REQUEST = "pull_request"  # opened, synchronized (a push to its branch), closed...


HOOK_EVENTS = (HookEvent.PUSH,)


class MLflowEnv(StrEnum):
    """What the MLflow server, its prepare step and its clients read.

    BACKEND_STORE_URI, AUTH_CONFIG_PATH, FLASK_SECRET_KEY and TRACKING_* are MLflow's own variables. Each account's
    password is named as its stack secret (mlflowAdminPassword, mlflowPipelinePassword, mlflowModelApiPassword).
    """

    BACKEND_STORE_URI = "MLFLOW_BACKEND_STORE_URI"
    AUTH_DATABASE_URI = "MLFLOW_AUTH_DATABASE_URI"  # ours: where the prepare step finds the user store
    AUTH_CONFIG_PATH = "MLFLOW_AUTH_CONFIG_PATH"
    FLASK_SECRET_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # noqa: S105 (a variable name)
    ADMIN_USER = "MLFLOW_ADMIN_USER"
    ADMIN_PASSWORD = "MLFLOW_ADMIN_PASSWORD"  # noqa: S105
    PIPELINE_USER = "MLFLOW_PIPELINE_USER"
    PIPELINE_PASSWORD = "MLFLOW_PIPELINE_PASSWORD"  # noqa: S105
    MODEL_API_USER = "MLFLOW_MODEL_API_USER"
    MODEL_API_PASSWORD = "MLFLOW_MODEL_API_PASSWORD"  # noqa: S105
    TRACKING_URI = "MLFLOW_TRACKING_URI"
    TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"
    TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD"  # noqa: S105


class ModelApiEnv(StrEnum):
    """What the model API reads (model_api/settings.py), besides MLflow's own MLFLOW_TRACKING_*."""

    MODEL = "MODEL_API_MODEL"  # the registered model's name
    ALIAS = "MODEL_API_ALIAS"  # follow this alias (default champion) ...
    VERSION = "MODEL_API_VERSION"  # ... or serve this version, pinned
    POLL_SECONDS = "MODEL_API_POLL_SECONDS"  # how often the alias is looked up
    MAX_BODY_BYTES = "MODEL_API_MAX_BODY_BYTES"
    MAX_ROWS = "MODEL_API_MAX_ROWS"
    WORK_DIR = "MODEL_API_WORK_DIR"  # where versions are downloaded
    # Read by the grant step only: the experiment the training job logs the model's runs in.
    EXPERIMENT = "MODEL_API_EXPERIMENT"


# Where the MLflow metrics sidecar listens (stack network only), and the directory variable
# prometheus_client (MLflow's exporter and the sidecar) reads.
MLFLOW_METRICS_PORT = 9100
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# MLflow's basic-auth refuses shorter passwords (mlflow.utils.validation._validate_password).
MLFLOW_MIN_PASSWORD_LENGTH = 12

_REPO_NAME = re.compile(r"[a-zA-Z0-9\-+_.]{1,100}", re.ASCII)  # GitBucket's CreateARepository.isValid
# GitBucket's user form (SystemSettingsController newUserForm: maxlength(100), identifier,
# reservedNames); its admin API checks nothing, so the client does.
_USER_NAME = re.compile(r"[a-zA-Z0-9\-_.]{1,100}", re.ASCII)
_RESERVED_NAMES = frozenset(
    {"git", "admin", "upload", "api", "assets", "plugin-assets", "signin", "signout", "register"}
    | {"activities.atom", "sidebar-collapse", "groups", "new"}
)


def check_repo_name(name: str) -> None:
    """Refuse a name GitBucket would refuse, before anything is created."""
    if not _REPO_NAME.fullmatch(name) or name[0] in "_-":
        raise ValueError(
            f"'{name}' is not a repository name GitBucket accepts "
            "(1-100 of a-z A-Z 0-9 - + _ . , not starting with _ or -)"
        )


def check_user_name(name: str) -> None:
    """Refuse an account name GitBucket's own user form would refuse."""
    if not _USER_NAME.fullmatch(name) or name[0] in "_-" or name.lower() in _RESERVED_NAMES:
        raise ValueError(
            f"'{name}' is not an account name GitBucket accepts "
            "(1-100 of a-z A-Z 0-9 - _ . , not starting with _ or -, not a reserved name)"
        )
