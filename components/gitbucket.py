"""GitBucket: the stack's git server, on MySQL rather than its embedded H2.

Two accounts: `root`, the site admin, whose password goes to the operator (the stack
output) and the set-up steps on the Pulumi host only; and the automation account, a
plain user that is a write collaborator of each seeded repository and nothing else:
Jenkins, Airflow and the pipeline containers log in with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components import mysql
from components.base import (
    Mount,
    Published,
    client_command,
    data_volume,
    local_image,
    secret_password,
    service_container,
)
from components.config import StackConfig
from components.files import PROJECT_DIR, content_hash
from components.mysql import MySQL, ServiceDatabase
from components.spec import ServiceConfig, ServiceSpec
from mlops_clients.contracts import (
    GITBUCKET,
    HOOK_EVENTS,
    GitBucketAction,
    GitBucketEnv,
    HookEvent,
    check_repo_name,
    check_user_name,
)

ALIAS = "gitbucket"
INTERNAL_PORT = 8080
ROOT_USER = "root"
AUTOMATION_USER = "mlops-automation"
check_user_name(AUTOMATION_USER)
# Probed by the health check: the sign-in page answers 200 without credentials whatever the
# anonymous-access setting (GitBucket 4.46.1 PreProcessController.scala:32-45 lets /signin
# through, IndexController.scala:99-109 renders it), and it is served by the application
# through its database. /api/v3 answers 401 once anonymous access is off.
HEALTH_PATH = "/signin"


@dataclass(frozen=True)
class SeededRepo:
    """A repository the stack seeds from a folder of this project, and the output of its clone URL."""

    name: str
    source: str
    description: str
    output: str


APP_REPO = SeededRepo(
    "de_datapreprocessing",
    "gitbucket_repos/de_datapreprocessing",
    "Data preprocessing job (DVC on MinIO)",
    "appRepoCloneUrl",
)
DAGS_REPO = SeededRepo("myairflow_dags", "dags", "Airflow DAGs, read by Airflow's git DAG bundle", "dagsRepoCloneUrl")
TRAINING_REPO = SeededRepo(  # with MLflow
    "ds_mlmodeling",
    "gitbucket_repos/ds_mlmodeling",
    "Model training job (MLflow registry, @champion)",
    "trainingRepoCloneUrl",
)
SEEDED_REPOS = (APP_REPO, DAGS_REPO, TRAINING_REPO)


SPEC = ServiceSpec(
    name="gitbucket",
    image="ghcr.io/gitbucket/gitbucket:4.46.1",
    ports={"port": 8080},
    memory_mb=1024,
    secrets=("gitbucketRootPassword", "gitbucketAutomationPassword"),
    needs=(mysql.SPEC,),
    outputs=(
        "gitbucketUrl",
        "gitbucketRootUser",
        "gitbucketRootPassword",
        "gitbucketAutomationUser",
        "gitbucketAutomationPassword",
        *(repo.output for repo in SEEDED_REPOS),
    ),
    # Exported under this name until the key, the output and the variable were given one name.
    renamed_keys={"gitbucketAdminPassword": "gitbucketRootPassword"},
)


@dataclass
class GitBucketArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    mysql: MySQL
    database: ServiceDatabase


class GitBucket(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    root_user: str
    root_password: pulumi.Output[str]  # the operator's and the set-up steps' only
    root_ready: pulumi.Resource
    automation_user: str  # what services and pipelines log in with
    automation_password: pulumi.Output[str]
    automation_ready: pulumi.Resource

    def __init__(self, name: str, args: GitBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gitbucket:GitBucket", name, None, opts)
        stack, service, db = args.stack, args.service, args.database
        self.alias = ALIAS
        self._repos: set[str] = set()
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.root_user = ROOT_USER
        self.root_password = secret_password(f"{name}-root-password", "gitbucketRootPassword", stack, self)
        self.automation_user = AUTOMATION_USER
        self.automation_password = secret_password(
            f"{name}-automation-password", "gitbucketAutomationPassword", stack, self
        )
        volume = data_volume(f"{name}-data", stack, "gitbucket-data", self)
        jdbc_url = (
            f"jdbc:mysql://{args.mysql.internal_host}:{args.mysql.internal_port}/{db.database}"
            "?allowPublicKeyRetrieval=true&useSSL=false"
        )
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=[
                "GITBUCKET_HOME=/gitbucket",
                f"GITBUCKET_DB_URL={jdbc_url}",
                f"GITBUCKET_DB_USER={db.user}",
                pulumi.Output.concat("GITBUCKET_DB_PASSWORD=", db.password),
            ],
            mounts=[Mount(volume.name, "/gitbucket")],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"curl -fsS http://localhost:{INTERNAL_PORT}{HEALTH_PATH} >/dev/null"],
            start_period=120,
            wait_timeout=600,  # the first start against an empty database runs every migration
            opts=pulumi.ResourceOptions(parent=self, depends_on=[db.ready]),
        )
        # root/root is GitBucket's well-known default: replaced as soon as the schema exists.
        self.root_ready = client_command(
            f"{name}-root-password-set",
            client=GITBUCKET,
            action=GitBucketAction.SET_ROOT_PASSWORD,
            environment={**db.client_env(), GitBucketEnv.ROOT_PASSWORD: self.root_password},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        # Created by root through the API; a rotated password is written as GitBucket's hash
        # in its database (GitBucket has no API for it), hence the database login here.
        self._database_env = db.client_env()
        self.automation_ready = self.account(
            f"{name}-automation-account",
            self.automation_user,
            self.automation_password,
            pulumi.ResourceOptions(parent=self),
        ).ready
        self._resource_name = name
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.root_user,
                "adminPassword": self.root_password,
                "automationUser": self.automation_user,
                "automationPassword": self.automation_password,
            }
        )

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "gitbucketUrl": self.host_url,
            "gitbucketRootUser": self.root_user,
            "gitbucketRootPassword": self.root_password,
            "gitbucketAutomationUser": self.automation_user,
            "gitbucketAutomationPassword": self.automation_password,
        }

    def root_api_env(self) -> dict[str, pulumi.Input[str]]:
        """Root's API login: for the set-up steps on the Pulumi host, never for a container."""
        return {
            GitBucketEnv.URL: self.host_url,
            GitBucketEnv.USER: self.root_user,
            GitBucketEnv.PASSWORD: self.root_password,
        }

    def repository(self, seeded: SeededRepo) -> GitRepository:
        """A repository of root's, seeded from a directory of this project; the automation
        account writes to it."""
        return self._repository(GitRepositoryArgs(self, seeded.name, seeded.source, seeded.description))

    def pushed_repository(self, repo: str, description: str, reader: Account) -> GitRepository:
        """A private repository of root's that users push to (created empty, never written to
        here); `reader` may read it, and comment on its pull requests. The automation account
        has no access to it."""
        return self._repository(GitRepositoryArgs(self, repo, None, description, reader))

    def _repository(self, args: GitRepositoryArgs) -> GitRepository:
        if args.repo.lower() in self._repos:
            raise ValueError(f"repository '{args.repo}' is already one of the stack's: choose another name")
        self._repos.add(args.repo.lower())  # GitBucket's names are case-insensitive
        return GitRepository(f"{self._resource_name}-repo-{args.repo}", args, opts=pulumi.ResourceOptions(parent=self))

    def account(self, name: str, user: str, password: pulumi.Input[str], opts: pulumi.ResourceOptions) -> Account:
        """A plain account (no site admin), created by root; a rotated password is written as
        GitBucket's hash, as the automation account's is."""
        ready = client_command(
            name,
            client=GITBUCKET,
            action=GitBucketAction.ENSURE_ACCOUNT,
            environment={
                **self._database_env,
                **self.root_api_env(),
                GitBucketEnv.AUTOMATION_USER: user,
                GitBucketEnv.AUTOMATION_PASSWORD: password,
            },
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=[self.root_ready]), opts),
        )
        return Account(user, ready)


@dataclass(frozen=True)
class Account:
    """A GitBucket account and the step after which it exists with its password."""

    user: str
    ready: pulumi.Resource


@dataclass
class GitRepositoryArgs:
    server: GitBucket
    repo: str
    source: str | None  # None: users push to it
    description: str
    reader: Account | None = None  # who reads it instead of the automation account (which writes)


class GitRepository(pulumi.ComponentResource):
    """Created once, then kept equal to its source: each `up` after the source changed
    pushes one new commit on top (history is never rewritten; see README). Root owns it;
    the automation account is its collaborator with write, or its `reader` reads it."""

    repo: str
    internal_clone_url: str
    host_clone_url: str
    seeded: pulumi.Resource
    ready: pulumi.Resource  # seeded, and the automation account may read and push

    def __init__(self, name: str, args: GitRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gitbucket:GitRepository", name, None, opts)
        check_repo_name(args.repo)
        seed: dict[str, pulumi.Input[str]] = {}
        if args.source is not None:
            source_dir = PROJECT_DIR / args.source
            if not source_dir.is_dir():
                raise ValueError(f"the seed of repository {args.repo}, {source_dir}, is not a directory")
            # Changes with the content, so a changed seed runs the update (a new commit).
            seed = {GitBucketEnv.SEED_SOURCE: args.source, GitBucketEnv.SEED_HASH: content_hash(source_dir)}
        server = args.server
        self.repo = args.repo
        self.internal_clone_url = f"{server.internal_url}/git/{server.root_user}/{args.repo}.git"
        self.host_clone_url = f"{server.host_url}/git/{server.root_user}/{args.repo}.git"
        self.seeded = client_command(
            f"{name}-ensure",
            client=GITBUCKET,
            action=GitBucketAction.ENSURE_REPO,
            environment={
                **server.root_api_env(),
                GitBucketEnv.REPO_NAME: args.repo,
                GitBucketEnv.REPO_DESCRIPTION: args.description,
                **seed,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[server.root_ready]),
        )
        collaborator = args.reader or Account(server.automation_user, server.automation_ready)
        self.ready = client_command(
            f"{name}-{'reader' if args.reader else 'automation'}-collaborator",
            client=GITBUCKET,
            action=GitBucketAction.ENSURE_COLLABORATOR,
            environment={
                **server.root_api_env(),
                GitBucketEnv.REPO_NAME: args.repo,
                GitBucketEnv.AUTOMATION_USER: collaborator.user,
                **({GitBucketEnv.AUTOMATION_PERMISSION: "pull"} if args.reader else {}),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.seeded, collaborator.ready]),
        )
        self._server, self._resource_name = server, name
        self.register_outputs({"cloneUrl": self.host_clone_url, "internalCloneUrl": self.internal_clone_url})

    def webhook(
        self, purpose: str, url: pulumi.Input[str], events: tuple[HookEvent, ...] = HOOK_EVENTS
    ) -> pulumi.Resource:
        """A webhook to `url` for `events` (a push by default), kept in sync (one per URL)."""
        return client_command(
            f"{self._resource_name}-hook-{purpose}",
            client=GITBUCKET,
            action=GitBucketAction.ENSURE_WEBHOOK,
            environment={
                **self._server.root_api_env(),
                GitBucketEnv.REPO_NAME: self.repo,
                GitBucketEnv.HOOK_URL: url,
                # Only when not the default: a stack's existing push hooks keep their inputs.
                **({GitBucketEnv.HOOK_EVENTS: ",".join(events)} if events != HOOK_EVENTS else {}),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.seeded]),
        )
