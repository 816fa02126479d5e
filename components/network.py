"""The stack's own bridge network: services find each other by alias on it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.base import STACK_LABEL
from components.config import StackConfig


@dataclass
class StackNetworkArgs:
    stack: StackConfig


class StackNetwork(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, name: str, args: StackNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:network:StackNetwork", name, None, opts)
        network = docker.Network(
            f"{name}-bridge",
            name=args.stack.network_name,
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label=STACK_LABEL, value=args.stack.prefix)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = network.name
        self.register_outputs({"name": self.name})
