"""The tests' second Docker engine (tests/support/second_engine.py), REAL: Debian's dockerd in a network
namespace the test makes, over tcp:// with TLS.

It is where issue 15's Celery workers on a further host will be proven; these check the engine itself:
it answers only with the test's client certificate, runs containers of its own, reaches this host only
where this host listens beyond loopback, and leaves nothing behind.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import docker.tls
import pytest
import requests

from tests.support.containers import docker_client, require_image, unavailable
from tests.support.second_engine import PORT, STATE_ROOT, SecondEngine, missing_prerequisite, second_engine

pytestmark = pytest.mark.integration


def _require_prerequisites() -> None:
    reason = missing_prerequisite()
    if reason:
        unavailable(reason)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondEngine]:
    _require_prerequisites()
    docker_client()  # the main engine answers (else skip or fail with the reason)
    with second_engine(tmp_path_factory.mktemp("engine")) as made:
        yield made


def test_it_answers_only_over_tls_with_the_tests_client_certificate(engine: SecondEngine) -> None:
    assert engine.client().info()["DockerRootDir"] == str(engine.data_root)  # another engine, the test's
    anonymous = docker.DockerClient(
        base_url=f"https://{engine.address}:{PORT}",
        tls=docker.tls.TLSConfig(ca_cert=str(engine.cert_dir / "ca.pem"), verify=True),
        timeout=10,
        version="1.41",
    )
    anonymous.api.trust_env = False  # the test's CA, not the environment's bundle
    with pytest.raises((docker.errors.DockerException, requests.exceptions.RequestException)):
        anonymous.ping()
    plain = requests.get(f"http://{engine.address}:{PORT}/_ping", timeout=10)
    assert plain.status_code == 400, plain.status_code  # Go's TLS server to a plain request


def test_it_runs_containers_of_its_own(engine: SecondEngine) -> None:
    main = docker_client()
    image = require_image(main, "debian")
    remote = engine.client()
    remote.images.load(b"".join(main.images.get(image).save(named=True)))
    name = f"{engine.name}-hello"
    container = remote.containers.run(image, ["sh", "-c", "echo ran-on-the-second-engine"], name=name, detach=True)
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert container.logs().decode().strip() == "ran-on-the-second-engine"
        with pytest.raises(docker.errors.NotFound):
            main.containers.get(name)  # not on the main engine
    finally:
        container.remove(force=True)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"main host")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_it_reaches_this_host_on_the_veth_address_not_on_loopback(engine: SecondEngine) -> None:
    for bind, reached in ((engine.host_address, True), ("127.0.0.1", False)):
        server = http.server.HTTPServer((bind, 0), _Hello)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            # From the engine's side: loopback there is the namespace's own, not this host's.
            for address in (engine.host_address, "127.0.0.1"):
                answer = engine.in_namespace("curl", "-s", "--max-time", "5", f"http://{address}:{port}/")
                expected = reached and address == engine.host_address
                assert (answer.stdout == "main host") is expected, (bind, address, answer)
        finally:
            server.shutdown()
            server.server_close()


def test_removing_it_leaves_nothing_and_touches_no_other_container(tmp_path: Path) -> None:
    _require_prerequisites()
    main = docker_client()
    # A container of the main engine's, made for this test: it must outlive the second engine.
    sentinel = main.containers.create(
        require_image(main, "debian"),
        ["true"],
        name=f"mlops-test-sentinel-{tmp_path.name[-8:]}",
        labels={"mlops.test": "true"},
    )
    try:
        with second_engine(tmp_path) as made:
            name = made.name
            assert made.client().ping()
        namespaces = engine_namespaces()
        links = _links()
        assert name not in namespaces and not [link for link in links if name[-8:] in link], (namespaces, links)
        assert not (STATE_ROOT / name).exists() and not Path(f"/run/{name}").exists()
        sentinel.reload()  # raises NotFound if it was removed
    finally:
        sentinel.remove(force=True)


def engine_namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True, timeout=10)
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


def _links() -> list[str]:
    listed = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True, timeout=10)
    return [line.split(":")[1].strip().split("@")[0] for line in listed.stdout.splitlines()]
