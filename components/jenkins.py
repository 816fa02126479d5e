"""Jenkins: the stack's CI, building images through the host's Docker engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.base import Mount, Published, data_volume, local_image, secret_password, service_container
from components.config import ServiceConfig, StackConfig

ALIAS = "jenkins"
INTERNAL_PORT = 8080
ADMIN_USER = "admin"
ADMIN_SCRIPT = Path(__file__).parent / "files" / "jenkins-admin.groovy"
DOCKER_SOCKET = "/var/run/docker.sock"


@dataclass
class JenkinsArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]


class Jenkins(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    admin_user: str
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: JenkinsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:jenkins:Jenkins", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user = ADMIN_USER
        self.admin_password = secret_password(f"{name}-admin-password", "jenkinsAdminPassword", stack, self)
        volume = data_volume(f"{name}-home", stack, "jenkins-home", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=[
                "JAVA_OPTS=-Djenkins.install.runSetupWizard=false",
                f"JENKINS_ADMIN_ID={ADMIN_USER}",
                pulumi.Output.concat("JENKINS_ADMIN_PASSWORD=", self.admin_password),
            ],
            uploads=[
                docker.ContainerUploadArgs(
                    file="/usr/share/jenkins/ref/init.groovy.d/mlops-admin.groovy.override",
                    content=ADMIN_SCRIPT.read_text(),
                )
            ],
            mounts=[Mount(volume.name, "/var/jenkins_home")],
            # Builds run `docker build/push` against the host's engine (risk: README, Security).
            host_mounts=[(DOCKER_SOCKET, DOCKER_SOCKET)],
            group_adds=[str(stack.docker_socket_gid)],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"curl -fsS -o /dev/null http://localhost:{INTERNAL_PORT}/login"],
            start_period="120s",
            wait_timeout=600,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
            }
        )
