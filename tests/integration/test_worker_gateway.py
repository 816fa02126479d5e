"""The worker gateway (components/airflow.py), REAL: the stand-in HAProxy image with the config the
stack writes, in front of a REAL Redis of the stand-in image on a network of the test's own.

It forwards each route's published port to the service by its alias; a service replaced by a new
container (a new address) is found again; a service not there yet does not keep it from starting.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

import docker
import pytest

from components.airflow import GATEWAY_CONFIG_FILE, GatewayRoute, gateway_config, gateway_health_check
from tests.support.containers import docker_client, file_archive, network, require_image, running, wait_until

pytestmark = pytest.mark.integration
PUBLISHED = 16379  # inside the gateway's container; the test reaches it on a loopback host port


def ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"PING\r\n")
        return connection.recv(64)


def test_the_gateway_forwards_and_finds_a_replaced_service_again() -> None:
    client = docker_client()
    gateway_image, redis_image = require_image(client, "haproxy"), require_image(client, "redis")
    with network(client) as net:
        backend = f"mlops-test-backend-{net[-10:]}"
        routes = [GatewayRoute("redis", backend, 6379, PUBLISHED), GatewayRoute("absent", f"{backend}-none", 1, 16380)]
        gateway = client.containers.create(
            gateway_image,
            command=["haproxy", "-f", GATEWAY_CONFIG_FILE],
            network=net,
            ports={f"{PUBLISHED}/tcp": ("127.0.0.1", None)},
            labels={"mlops.test": "true"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            name=f"mlops-test-gateway-{net[-10:]}",
        )
        try:
            gateway.put_archive("/", file_archive(GATEWAY_CONFIG_FILE, gateway_config(routes)))
            gateway.start()  # before its backend exists: it starts all the same
            health = gateway_health_check(PUBLISHED)
            wait_until(lambda: gateway.exec_run(["sh", "-c", health]).exit_code == 0, 30, "the gateway healthy")
            gateway.reload()
            port = int(gateway.ports[f"{PUBLISHED}/tcp"][0]["HostPort"])
            addresses = []
            with ExitStack() as spacers:
                for _ in range(2):  # the second time a new container, at another address
                    command = ["redis-server", "--protected-mode", "no"]
                    with running(client, redis_image, name=backend, network=net, command=command) as server:
                        server.reload()
                        addresses.append(server.attrs["NetworkSettings"]["Networks"][net]["IPAddress"])
                        wait_until(
                            lambda: ping(port).startswith(b"+PONG") or None,
                            timeout=60,
                            what="PONG through the gateway",
                            tolerate=(OSError,),
                        )
                    # Another container takes the address it had: the next one gets a new address.
                    spacers.enter_context(running(client, redis_image, network=net, command=["sleep", "120"]))
            assert addresses[0] != addresses[1], addresses  # else the second PONG proves no new lookup
        finally:
            gateway.remove(force=True, v=True)
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(gateway.id)
