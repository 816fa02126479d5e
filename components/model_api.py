"""The model API: serves the registered model's `champion` (or a pinned version) over REST.

Its image is the platform's own (images/model-api on the MLflow image, built by the
program as MLflow's is); its code (model_api/) is uploaded at the container's creation.
It reads MLflow with an account of its own that may only read the served model and the
training experiment: a one-shot `grant` step makes it through the server's REST API as
the admin, before any replica starts. The API holds no storage credential: models come
through the tracking server's artifact proxy.

Replicas share the network alias `model-api` (round-robin for clients on the stack
network); replica i is published on `port + i - 1`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_docker as docker

from components import mlflow
from components.base import Published, after_step, derived_image, one_shot_container, secret_password, service_container
from components.config import StackConfig
from components.files import MODEL_API_IMAGE_CONTEXT, PROJECT_DIR
from components.mlflow import MLflow
from components.spec import ScrapeJob, ServiceConfig, ServiceSpec, Setting, needed
from mlops_clients.contracts import MLFLOW_MIN_PASSWORD_LENGTH, MLFLOW_SERVER, MLflowAction, MLflowEnv, ModelApiEnv
from model_api.settings import POLL_SECONDS_LIMITS, alias_problem, model_problem

if TYPE_CHECKING:
    from components.platform import Platform

ALIAS = "model-api"
JOB = "model-api"  # its Prometheus job (monitoring/alerts.yml, the dashboards)
INTERNAL_PORT = 8000
USER = "mlops-model-api"  # its MLflow account
# The experiment the training job logs its runs in (gitbucket_repos/ds_mlmodeling, entrypoint
# DEFAULT_EXPERIMENT): the served model's artifacts are that experiment's.
TRAINING_EXPERIMENT = "ds_mlmodeling"
MAX_REPLICAS = 8
CODE_DIR = "/opt/model-api"  # on the image's PYTHONPATH
CODE_FILES = (
    *(f"model_api/{f}" for f in ("__init__.py", "app.py", "loading.py", "serving.py", "settings.py")),
    *(f"mlops_clients/{f}" for f in ("__init__.py", "common.py", "contracts.py", "mlflow_server.py")),
)


def _text_problem(problem: Any) -> Any:
    def check(value: Any) -> str | None:
        return problem(value) if isinstance(value, str) else f"must be a string, got {value!r}"

    return check


def _version_problem(value: Any) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return None
    return f"must be a registered version number (1, 2, ...), got {value!r}"


def _whole_problem(low: int, high: int) -> Any:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return None
        return f"must be a whole number from {low} to {high}, got {value!r}"

    return check


def _poll_problem(value: Any) -> str | None:
    low, high = POLL_SECONDS_LIMITS
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return None
    return f"must be a number of seconds from {low:g} to {high:g}, got {value!r}"


def _settings_problems(settings: Mapping[str, Any]) -> list[str]:
    if settings["version"] is not None and settings["alias"]:
        return ["'modelApi.version' pins a version: set 'modelApi.alias' to \"\" (or remove the version) to choose"]
    if settings["version"] is None and not settings["alias"]:
        return ["'modelApi.alias' is empty and no 'modelApi.version' is set: nothing to serve"]
    return []


def _replica_ports(settings: Mapping[str, Any], ports: Mapping[str, int]) -> dict[str, int]:
    return {f"port+{i} (replica {i + 1})": ports["port"] + i for i in range(1, settings["replicas"])}


SPEC = ServiceSpec(
    name="modelApi",
    # The base of images/model-api (MLflow's client, the model's libraries). Left at this
    # default, the MLflow service's configured image is used (a mirror set once applies to both).
    image=mlflow.SPEC.image,
    ports={"port": 8000},
    memory_mb=768,
    secrets=("mlflowModelApiPassword",),
    needs=(mlflow.SPEC,),
    outputs=("modelApiUrl", "modelApiUrls", "mlflowModelApiUser", "mlflowModelApiPassword"),
    min_password_length=MLFLOW_MIN_PASSWORD_LENGTH,
    settings={
        "model": Setting("churn_model", _text_problem(model_problem)),  # the training job's MODEL_NAME default
        "alias": Setting("champion", _text_problem(lambda a: alias_problem(a) if a else None)),
        "version": Setting(None, _version_problem),  # pinned: set alias to ""
        "replicas": Setting(1, _whole_problem(1, MAX_REPLICAS)),
        "pollSeconds": Setting(30, _poll_problem),
    },
    settings_check=_settings_problems,
    extra_ports=_replica_ports,
)


def api_settings(service: ServiceConfig) -> dict[str, str]:
    """The API's environment besides its MLflow login (model_api/settings.py reads it)."""
    settings = service.settings
    env = {
        ModelApiEnv.MODEL.value: settings["model"],
        ModelApiEnv.POLL_SECONDS.value: str(settings["pollSeconds"]),
        "HOME": "/tmp",  # noqa: S108 (the container's own)
    }
    if settings["version"] is not None:
        env[ModelApiEnv.VERSION.value] = str(settings["version"])
    else:
        env[ModelApiEnv.ALIAS.value] = settings["alias"]
    return env


@dataclass
class ModelApiArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    mlflow: MLflow


class ModelApi(pulumi.ComponentResource):
    host_urls: list[str]
    user: str
    password: pulumi.Output[str]

    def __init__(self, name: str, args: ModelApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:model_api:ModelApi", name, None, opts)
        stack, service, tracking = args.stack, args.service, args.mlflow
        replicas: int = service.settings["replicas"]
        self.host_urls = [f"http://{stack.host_address}:{service.port + i}" for i in range(replicas)]
        self.user = USER
        self.password = secret_password(f"{name}-mlflow-password", "mlflowModelApiPassword", stack, self)
        image = derived_image(f"{name}-image", stack, MODEL_API_IMAGE_CONTEXT, {"MLFLOW_IMAGE": service.image}, self)
        uploads = [
            docker.ContainerUploadArgs(file=f"{CODE_DIR}/{file}", content=(PROJECT_DIR / file).read_text())
            for file in CODE_FILES
        ]
        grant_env: pulumi.Output[list[str]] = pulumi.Output.secret(
            pulumi.Output.all(tracking.admin_password, self.password).apply(
                lambda secrets: [
                    f"{MLflowEnv.TRACKING_URI}={tracking.internal_url}",
                    f"{MLflowEnv.ADMIN_USER}={tracking.admin_user}",
                    f"{MLflowEnv.ADMIN_PASSWORD}={secrets[0]}",
                    f"{MLflowEnv.PIPELINE_USER}={tracking.pipeline_user}",
                    f"{MLflowEnv.MODEL_API_USER}={USER}",
                    f"{MLflowEnv.MODEL_API_PASSWORD}={secrets[1]}",
                    f"{ModelApiEnv.MODEL}={service.settings['model']}",
                    f"{ModelApiEnv.EXPERIMENT}={TRAINING_EXPERIMENT}",
                ]
            )
        )
        # Run again whenever its image, code or a password changes: a rotated password
        # reaches MLflow before the replicas restart with it.
        self.grant, granted = one_shot_container(
            f"{name}-grant",
            stack=stack,
            service=service,
            image=image,
            network=args.network,
            command=["python", "-m", f"mlops_clients.{MLFLOW_SERVER.module}", MLflowAction.GRANT_MODEL_API.value],
            envs=grant_env,
            user="65534:65534",
            working_dir="/tmp",  # noqa: S108
            uploads=uploads,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[tracking.ready]),
        )
        api_env: pulumi.Output[list[str]] = pulumi.Output.secret(
            self.password.apply(
                lambda password: [
                    *(f"{key}={value}" for key, value in api_settings(service).items()),
                    f"{MLflowEnv.TRACKING_URI}={tracking.internal_url}",
                    f"{MLflowEnv.TRACKING_USERNAME}={USER}",
                    f"{MLflowEnv.TRACKING_PASSWORD}={password}",
                ]
            )
        )
        self.containers = [
            service_container(
                f"{name}-server-{i + 1}",
                stack=stack,
                service=service,
                image=image,
                network=args.network,
                alias=f"{ALIAS}-{i + 1}",
                shared_alias=ALIAS,
                envs=after_step(api_env, granted),
                user="65534:65534",
                uploads=uploads,
                published=[Published(INTERNAL_PORT, service.port + i)],
                # Alive, not ready: /health answers 503 until a version loaded, which
                # needs a training run first. The image has no curl.
                health=[
                    "python -c \"import urllib.request; urllib.request.urlopen('http://localhost:"
                    f"{INTERNAL_PORT}/metrics', timeout=5)\""
                ],
                start_period=30,
                interval=3,
                drop_capabilities=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.grant]),
            )
            for i in range(replicas)
        ]
        self.register_outputs({"hostUrls": self.host_urls, "user": self.user, "password": self.password})

    def scrape_jobs(self) -> list[ScrapeJob]:
        """Each replica, by its own alias: a dead one shows as its own `up == 0`."""
        return [ScrapeJob(JOB, tuple(f"{ALIAS}-{i + 1}:{INTERNAL_PORT}" for i in range(len(self.containers))))]

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "modelApiUrl": self.host_urls[0],
            "modelApiUrls": self.host_urls,
            "mlflowModelApiUser": self.user,
            "mlflowModelApiPassword": self.password,
        }


def deploy(stack: StackConfig, platform: Platform, opts: pulumi.ResourceOptions) -> ModelApi:
    """Built from the core platform when `modelApi.enabled` (components/platform.py `LEAVES`)."""
    tracking = needed(platform.mlflow, "modelApi", "mlflow")
    service = stack.services[SPEC.name]
    if service.image == SPEC.image:
        service = dataclasses.replace(service, image=stack.services[mlflow.SPEC.name].image)
    return ModelApi("modelapi", ModelApiArgs(stack, service, platform.network.name, tracking), opts)
