"""Jenkins: the stack's CI, configured as code, building images through the host's Docker engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components import gitbucket, registry
from components.base import Mount, Published, data_volume, derived_image, secret_password, service_container
from components.config import STACK_NAME, StackConfig
from components.files import JENKINS_IMAGE_CONTEXT
from components.gitbucket import GitBucket, GitRepository
from components.registry import ImageRegistry
from components.spec import ScrapeJob, ScrapeLogin, ServiceConfig, ServiceSpec, Setting
from mlops_clients.contracts import HookEvent, check_repo_name

ALIAS = "jenkins"
INTERNAL_PORT = 8080
ADMIN_USER = "admin"
MONITOR_USER = "mlops-monitor"  # Prometheus' login (JCasC: Metrics/View only)
METRICS_PATH = "/prometheus/"  # the Prometheus plugin's endpoint (prometheusConfiguration.path)
JOB = "jenkins"  # its Prometheus job
PIPELINE_JOB = "de_datapreprocessing_pipeline"
DOCKER_SOCKET = "/var/run/docker.sock"
# A first boot (empty home) unpacks and loads about 60 plugins (images/jenkins/plugins.txt,
# the pinned set with its dependencies), then applies JCasC and runs the Job DSL: several
# minutes on 2 cores, with /login answering 503 meanwhile. Docker does not count failed checks within the start
# period; after it, 6 in a row (5 s apart, each up to 20 s) mark the container unhealthy,
# which `docker ps` and monitoring report even though a later success turns it healthy.
# pulumi-docker's `wait` polls for "healthy" only, until wait_timeout: that is `up`'s
# deadline. So the start period covers a slow first boot, and the wait outlasts the start
# period plus Docker's retries (360 + 6 * (5 + 20) = 510 s) with margin.
START_PERIOD = 360
WAIT_TIMEOUT = 720
# Pull-request previews of the infrastructure repo (README, "Review changes in pull requests").
PREVIEW_JOB = "mlops-stack_preview"
PREVIEW_USER = "mlops-preview"  # GitBucket's account for it: reads the repo, comments; only Jenkins holds it
PREVIEW_AGENT = "mlops-stack-host"  # the agent on the Docker host that runs them (label mlops-stack)
PREVIEW_JENKINSFILE = ".jenkins/preview.Jenkinsfile"
PREVIEW_CASC = "/usr/share/jenkins/casc-preview/"  # the agent's node, applied only with previews on
CASC = "/usr/share/jenkins/casc/"


def _repo_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a repository name, got {value!r}"
    try:
        check_repo_name(value)
    except ValueError as error:
        return str(error)
    if value.lower() in (repo.name for repo in gitbucket.SEEDED_REPOS):
        return f"'{value}' is a repository the stack seeds and writes to: choose another name"
    return None


def _settings_problems(settings: Mapping[str, Any]) -> list[str]:
    if settings["previewStacks"] and not settings["previewRepo"]:
        return ["'jenkins.previewStacks' is set but 'jenkins.previewRepo' is not: nothing would be previewed"]
    return []


def _stacks_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return f"must be a non-empty list of stack names, got {value!r}"
    bad = [v for v in value if not STACK_NAME.fullmatch(v)]
    return f"holds invalid stack name(s): {', '.join(map(repr, bad))}" if bad else None


def preview_settings(
    *, repo_url: str, repo_host_url: str, repo: str, gitbucket_host_url: str, stacks: list[str], agent_dir: str
) -> dict[str, str]:
    """The preview job's settings, as the Jenkins container gets them (JCasC hands them to the
    agent's node, images/jenkins/casc-preview/preview-agent.yaml, so the builds see them)."""
    return {
        "PREVIEW_REPO_URL": repo_url,  # the controller's scans
        "PREVIEW_REPO_HOST_URL": repo_host_url,  # the agent's fetch, on the host
        "PREVIEW_REPO": repo,
        "PREVIEW_GITBUCKET_URL": gitbucket_host_url,
        "PREVIEW_STACKS": " ".join(stacks),
        "PREVIEW_AGENT_DIR": agent_dir,
    }


SPEC = ServiceSpec(
    name="jenkins",
    image="jenkins/jenkins:2.568.2-lts-jdk21",
    ports={"port": 8090},  # GitBucket, Jenkins and Airflow all listen on 8080 inside
    memory_mb=2048,
    secrets=("jenkinsAdminPassword", "jenkinsMonitorPassword", "gitbucketPreviewPassword"),
    needs=(gitbucket.SPEC, registry.SPEC),  # builds the seeded repo, pushes its image
    outputs=(
        "jenkinsUrl",
        "jenkinsAdminUser",
        "jenkinsAdminPassword",
        "jenkinsMonitorUser",
        "jenkinsMonitorPassword",
        "jenkinsPipelineUrl",
        "previewRepoCloneUrl",
        "previewAgentDir",
        "gitbucketPreviewUser",
        "gitbucketPreviewPassword",
    ),
    uses_docker_socket=True,
    settings={
        # A GitBucket repository, created empty, that holds this project: its pull requests
        # get the preview comment. Off when not set.
        "previewRepo": Setting("", _repo_problem),
        # The stacks each pull request previews; empty: this stack.
        "previewStacks": Setting([], _stacks_problem),
    },
    settings_check=_settings_problems,
)


@dataclass
class JenkinsArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    gitbucket: GitBucket
    pipeline_repo: GitRepository
    registry: ImageRegistry
    training_repo: GitRepository | None = None  # built by its own job when the stack seeds it


def registry_environment(registry: ImageRegistry) -> pulumi.Output[list[str]]:
    """Where the pipeline pushes, and the login it uses (JCasC's `registry` credential)."""
    settings = [f"REGISTRY_PUSH_PREFIX={registry.push_prefix}", f"REGISTRY_SERVER={registry.server}"]
    if registry.username is None or registry.password is None:
        return pulumi.Output.from_input([*settings, "REGISTRY_AUTH=false"])
    username = registry.username
    return registry.password.apply(
        lambda password: [*settings, "REGISTRY_AUTH=true", f"REGISTRY_USER={username}", f"REGISTRY_PASSWORD={password}"]
    )


class Jenkins(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    admin_user: str
    admin_password: pulumi.Output[str]
    monitor_user: str
    monitor_password: pulumi.Output[str]
    monitored: bool  # Prometheus runs: it scrapes Jenkins
    pipeline_url: str
    preview_repo: GitRepository | None  # with jenkins.previewRepo set
    preview_agent_dir: str
    preview_user: str | None = None
    preview_password: pulumi.Output[str] | None = None

    def __init__(self, name: str, args: JenkinsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:jenkins:Jenkins", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user = ADMIN_USER
        self.admin_password = secret_password(f"{name}-admin-password", "jenkinsAdminPassword", stack, self)
        self.monitor_user = MONITOR_USER
        self.monitor_password = secret_password(f"{name}-monitor-password", "jenkinsMonitorPassword", stack, self)
        self.monitored = stack.monitored
        self.pipeline_url = f"{self.host_url}/job/{PIPELINE_JOB}/"

        self.preview_repo = self._preview_repo(name, args)
        # The agent's root on the host (its workspaces): scripts/jenkins-agent.sh makes it, private.
        self.preview_agent_dir = f"/var/tmp/{stack.prefix}-jenkins-agent"  # noqa: S108 (owner checked there)
        image = derived_image(f"{name}-image", stack, JENKINS_IMAGE_CONTEXT, {"JENKINS_IMAGE": service.image}, self)
        volume = data_volume(f"{name}-home", stack, "jenkins-home", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=image,
            network=args.network,
            alias=ALIAS,
            # The `gitbucket` credential (JCasC) is the automation account: never GitBucket's root.
            envs=pulumi.Output.all(
                self.admin_password,
                args.gitbucket.automation_password,
                registry_environment(args.registry),
                self.preview_password or "",
                self.monitor_password,
            ).apply(
                lambda secrets: [
                    f"JENKINS_ADMIN_ID={ADMIN_USER}",
                    f"JENKINS_ADMIN_PASSWORD={secrets[0]}",
                    f"JENKINS_MONITOR_ID={MONITOR_USER}",
                    f"JENKINS_MONITOR_PASSWORD={secrets[4]}",
                    f"JENKINS_URL={self.host_url}/",
                    f"GITBUCKET_AUTOMATION_USER={args.gitbucket.automation_user}",
                    f"GITBUCKET_AUTOMATION_PASSWORD={secrets[1]}",
                    f"PIPELINE_REPO_URL={args.pipeline_repo.internal_clone_url}",
                    *([f"TRAINING_REPO_URL={args.training_repo.internal_clone_url}"] if args.training_repo else []),
                    *self._preview_environment(args, secrets[3]),
                    *secrets[2],
                ]
            ),
            mounts=[Mount(volume.name, "/var/jenkins_home")],
            # Builds run `docker build/push` against the host's engine (risk: README, Security).
            host_mounts=[(DOCKER_SOCKET, DOCKER_SOCKET)],
            group_adds=[str(stack.docker_socket_gid)],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"curl -fsS -o /dev/null http://localhost:{INTERNAL_PORT}/login"],
            start_period=START_PERIOD,
            wait_timeout=WAIT_TIMEOUT,
            # The repo seeded, the automation account created and made its collaborator.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    r.ready for r in (args.pipeline_repo, args.training_repo, self.preview_repo) if r is not None
                ],
            ),
        )
        self.webhook = args.pipeline_repo.webhook("jenkins", self.notify_commit_url_of(args.pipeline_repo))
        if args.training_repo is not None:
            args.training_repo.webhook("jenkins", self.notify_commit_url_of(args.training_repo))
        if self.preview_repo is not None:
            # A pull request's opening and every push to its branch (GitBucket then updates
            # refs/pull/<n>/head): a scan finds the PR's head and builds it.
            self.preview_repo.webhook(
                "jenkins", self.notify_commit_url_of(self.preview_repo), (HookEvent.PUSH, HookEvent.PULL_REQUEST)
            )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
                "pipelineUrl": self.pipeline_url,
            }
        )

    def _preview_repo(self, name: str, args: JenkinsArgs) -> GitRepository | None:
        """The repository and its only reader besides root: the preview account, whose password
        only Jenkins holds. Whoever can read the repository can open a pull request (from a fork
        too), whose code runs on the Docker host: so not the automation account, which services
        and pipelines hold."""
        repo: str = args.service.settings["previewRepo"]
        if not repo:
            return None
        self.preview_user = PREVIEW_USER
        self.preview_password = secret_password(
            f"{name}-preview-password", "gitbucketPreviewPassword", args.stack, self
        )
        reader = args.gitbucket.account(
            f"{name}-preview-account", PREVIEW_USER, self.preview_password, pulumi.ResourceOptions(parent=self)
        )
        return args.gitbucket.pushed_repository(
            repo, "Infrastructure (mlops-stack): Jenkins previews its pull requests on the Docker host", reader
        )

    def _preview_environment(self, args: JenkinsArgs, password: str) -> list[str]:
        """What JCasC reads for the previews (the node's variables, images/jenkins/casc-preview,
        reach the builds on the agent); nothing when previews are off."""
        if self.preview_repo is None:
            return []
        settings = preview_settings(
            repo_url=self.preview_repo.internal_clone_url,
            repo_host_url=self.preview_repo.host_clone_url,
            repo=f"{args.gitbucket.root_user}/{self.preview_repo.repo}",
            gitbucket_host_url=args.gitbucket.host_url,
            stacks=args.service.settings["previewStacks"] or [args.stack.stack],
            agent_dir=self.preview_agent_dir,
        )
        return [
            f"CASC_JENKINS_CONFIG={CASC},{PREVIEW_CASC}",
            *(f"{key}={value}" for key, value in settings.items()),
            f"GITBUCKET_PREVIEW_USER={PREVIEW_USER}",
            f"GITBUCKET_PREVIEW_PASSWORD={password}",
        ]

    def notify_commit_url_of(self, repo: GitRepository) -> str:
        """The git plugin's push notification: re-scans every job whose remote is this repo's URL."""
        return f"{self.internal_url}/git/notifyCommit?url={repo.internal_clone_url}"

    def scrape_jobs(self) -> list[ScrapeJob]:
        """The Prometheus plugin's endpoint, which answers the monitor account only."""
        if not self.monitored:
            return []
        login = ScrapeLogin(self.monitor_user, self.monitor_password)
        return [ScrapeJob(JOB, (f"{ALIAS}:{INTERNAL_PORT}",), METRICS_PATH, login)]

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "jenkinsUrl": self.host_url,
            "jenkinsAdminUser": self.admin_user,
            "jenkinsAdminPassword": self.admin_password,
            "jenkinsMonitorUser": self.monitor_user,
            "jenkinsMonitorPassword": self.monitor_password,
            "jenkinsPipelineUrl": self.pipeline_url,
            # Where users push this project, so that its pull requests are previewed.
            **(
                {
                    "previewRepoCloneUrl": self.preview_repo.host_clone_url,
                    "previewAgentDir": self.preview_agent_dir,
                    "gitbucketPreviewUser": self.preview_user,
                    "gitbucketPreviewPassword": self.preview_password,
                }
                if self.preview_repo
                else {}
            ),
        }
