"""GitBucket: the stack's git server, on MySQL rather than its embedded H2."""

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
from mlops_clients.contracts import GITBUCKET, GitBucketAction, GitBucketEnv, check_repo_name

ALIAS = "gitbucket"
INTERNAL_PORT = 8080
ADMIN_USER = "root"
SPEC = ServiceSpec(
    name="gitbucket",
    image="ghcr.io/gitbucket/gitbucket:4.46.1",
    ports={"port": 8080},
    memory_mb=1024,
    secrets=("gitbucketRootPassword",),
    needs=(mysql.SPEC,),
    outputs=("gitbucketUrl", "gitbucketRootUser", "gitbucketRootPassword", "appRepoCloneUrl", "dagsRepoCloneUrl"),
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
    admin_user: str
    admin_password: pulumi.Output[str]
    admin_ready: pulumi.Resource

    def __init__(self, name: str, args: GitBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gitbucket:GitBucket", name, None, opts)
        stack, service, db = args.stack, args.service, args.database
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user = ADMIN_USER
        self.admin_password = secret_password(f"{name}-root-password", "gitbucketRootPassword", stack, self)
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
            health=[f"curl -fsS http://localhost:{INTERNAL_PORT}/api/v3 >/dev/null"],
            start_period=120,
            wait_timeout=600,  # the first start against an empty database runs every migration
            opts=pulumi.ResourceOptions(parent=self, depends_on=[db.ready]),
        )
        # root/root is GitBucket's well-known default: replaced as soon as the schema exists.
        self.admin_ready = client_command(
            f"{name}-root-password-set",
            client=GITBUCKET,
            action=GitBucketAction.SET_ROOT_PASSWORD,
            environment={**db.client_env(), GitBucketEnv.ROOT_PASSWORD: self.admin_password},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self._resource_name = name
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
            }
        )

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "gitbucketUrl": self.host_url,
            "gitbucketRootUser": self.admin_user,
            "gitbucketRootPassword": self.admin_password,
        }

    def api_env(self) -> dict[str, pulumi.Input[str]]:
        return {
            GitBucketEnv.URL: self.host_url,
            GitBucketEnv.USER: self.admin_user,
            GitBucketEnv.PASSWORD: self.admin_password,
        }

    def repository(self, repo: str, source: str, description: str) -> GitRepository:
        """A repository of root's, seeded from a directory of this project (relative path)."""
        return GitRepository(
            f"{self._resource_name}-repo-{repo}",
            GitRepositoryArgs(server=self, repo=repo, source=source, description=description),
            opts=pulumi.ResourceOptions(parent=self),
        )


@dataclass
class GitRepositoryArgs:
    server: GitBucket
    repo: str
    source: str
    description: str


class GitRepository(pulumi.ComponentResource):
    """Created once, then kept equal to its source: each `up` after the source changed
    pushes one new commit on top (history is never rewritten; see README)."""

    repo: str
    internal_clone_url: str
    host_clone_url: str
    ready: pulumi.Resource

    def __init__(self, name: str, args: GitRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gitbucket:GitRepository", name, None, opts)
        check_repo_name(args.repo)
        source_dir = PROJECT_DIR / args.source
        if not source_dir.is_dir():
            raise ValueError(f"the seed of repository {args.repo}, {source_dir}, is not a directory")
        server = args.server
        self.repo = args.repo
        self.internal_clone_url = f"{server.internal_url}/git/{server.admin_user}/{args.repo}.git"
        self.host_clone_url = f"{server.host_url}/git/{server.admin_user}/{args.repo}.git"
        self.ready = client_command(
            f"{name}-ensure",
            client=GITBUCKET,
            action=GitBucketAction.ENSURE_REPO,
            environment={
                **server.api_env(),
                GitBucketEnv.REPO_NAME: args.repo,
                GitBucketEnv.REPO_DESCRIPTION: args.description,
                GitBucketEnv.SEED_SOURCE: args.source,
                # Changes with the content, so a changed seed runs the update (a new commit).
                GitBucketEnv.SEED_HASH: content_hash(source_dir),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[server.admin_ready]),
        )
        self._server, self._resource_name = server, name
        self.register_outputs({"cloneUrl": self.host_clone_url, "internalCloneUrl": self.internal_clone_url})

    def webhook(self, purpose: str, url: pulumi.Input[str]) -> pulumi.Resource:
        """A push webhook to `url`, kept in sync (one per URL)."""
        return client_command(
            f"{self._resource_name}-hook-{purpose}",
            client=GITBUCKET,
            action=GitBucketAction.ENSURE_WEBHOOK,
            environment={**self._server.api_env(), GitBucketEnv.REPO_NAME: self.repo, GitBucketEnv.HOOK_URL: url},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
