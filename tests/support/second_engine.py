"""A second Docker engine for the tests: Celery workers on a further Docker host (issue 15).

The test makes it and stops it: a network namespace of its own, joined to this host by a veth pair
on a /30 of 10.213.0.0/16 that no interface here uses, and a dockerd inside it (Debian's, the
main engine's binary) with its own data and exec roots, listening only on its namespace's address
over tcp:// with TLS (a CA, a server and a client certificate made by the test), and on a Unix
socket under its exec root, which the workers on it mount. Nothing else is a
target: the engine is reached at that one address with that client certificate, and removing it
removes the namespace, the veth pair, the engine's files and nothing else. Needs root (ip netns).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import docker.tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADDRESS_BLOCK = ipaddress.IPv4Network("10.213.0.0/16")
PORT = 2376  # Docker's TLS port
STATE_ROOT = Path("/var/lib/mlops-test-engines")  # its data roots (overlay2 needs a real file system)
START_TIMEOUT = 60


@dataclass
class SecondEngine:
    name: str  # the namespace's, and the prefix of everything made for it
    address: str  # the engine's, inside its namespace
    host_address: str  # this host's end of the veth pair: where the engine's containers reach this host
    cert_dir: Path  # ca.pem, cert.pem, key.pem: the client's (DOCKER_CERT_PATH layout)
    data_root: Path
    exec_root: Path
    host_link: str = ""  # this host's end of the veth pair
    arguments: list[str] = field(default_factory=list)  # dockerd's, after the binary
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"tcp://{self.address}:{PORT}"

    @property
    def socket(self) -> Path:
        """Its Unix socket on this machine (group docker, as the main engine's): what its workers mount."""
        return self.exec_root / "docker.sock"

    def client(self) -> docker.DockerClient:
        tls = docker.tls.TLSConfig(
            client_cert=(str(self.cert_dir / "cert.pem"), str(self.cert_dir / "key.pem")),
            ca_cert=str(self.cert_dir / "ca.pem"),
            verify=True,
        )
        # A fixed API version: "auto" would ask the engine before trust_env is off.
        client = docker.DockerClient(base_url=f"https://{self.address}:{PORT}", tls=tls, timeout=30, version="1.41")
        # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace the session's CA: this engine's is the test's.
        client.api.trust_env = False
        return client

    def in_namespace(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A command run in the engine's network namespace (as the engine's host sees the network)."""
        return _run("nsenter", f"--net=/run/netns/{self.name}", *command, check=False, timeout=timeout)

    def start(self) -> None:
        """Start dockerd and wait until it answers."""
        assert self.log is not None and self.process is None
        self.data_root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                # nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroups dockerd needs.
                ["nsenter", f"--net=/run/netns/{self.name}", "dockerd", *self.arguments],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the second engine exited: {self.log.read_text()[-2000:]}")
            probe = self.client()
            try:
                with suppress(docker.errors.DockerException, OSError):
                    if probe.ping():
                        return
            finally:
                probe.close()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the second engine did not answer in {START_TIMEOUT}s: {self.log.read_text()[-2000:]}"
                )
            time.sleep(0.5)

    def disconnect(self) -> None:
        """The host vanishing from the network (a cable pulled): nothing on it stops, nothing reaches it."""
        _run("ip", "link", "set", self.host_link, "down")

    def reconnect(self) -> None:
        _run("ip", "link", "set", self.host_link, "up")
        _run("ip", "addr", "replace", f"{self.host_address}/30", "dev", self.host_link)

    def stop(self, forget: bool = False) -> None:
        """The host going away: dockerd stops its containers and exits. `forget`: its data goes
        too, as if the machine came back rebuilt (no image, container or network left)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if forget:
            _remove_root(self.data_root)
            shutil.rmtree(self.exec_root, ignore_errors=True)


def _remove_root(data_root: Path) -> None:
    if data_root.exists():
        # What a stopped engine may leave mounted under its root (an overlay of a killed container).
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(data_root))), reverse=True):
            _run("umount", "-l", mount, check=False)
        shutil.rmtree(data_root, ignore_errors=True)


def missing_prerequisite() -> str | None:
    """Why a second engine cannot be made here (None: it can)."""
    if os.geteuid() != 0:
        return "a second Docker engine in a network namespace needs root (ip netns, dockerd)"
    for tool in ("ip", "nsenter", "dockerd", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    return None


def _run(*command: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=check, timeout=timeout)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 of the block that no address or route of this host overlaps."""
    used = _run("ip", "-o", "-4", "addr").stdout + _run("ip", "-4", "route").stdout
    taken = [ipaddress.ip_network(word, strict=False) for word in used.split() if "/" in word and word[0].isdigit()]
    for _ in range(100):
        subnet = ipaddress.IPv4Network(f"10.213.{secrets.randbelow(256)}.{4 * secrets.randbelow(64)}/30")
        if not any(subnet.overlaps(other) for other in taken if other.prefixlen > 0):
            return subnet
    raise RuntimeError(f"no free /30 in {ADDRESS_BLOCK}")


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def make_certificates(directory: Path, server_address: str) -> tuple[Path, Path]:
    """A CA of the test's own, a server certificate for the engine's address and a client certificate.

    Returns (the server's directory, the client's directory), each with ca.pem, cert.pem, key.pem.
    """
    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None
    ) -> tuple[x509.CertificateBuilder, x509.Name]:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        return builder, name

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_builder, ca_name = certificate("mlops-test second-engine CA", ca_key, None)
    ca = ca_builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(
        ca_key, hashes.SHA256()
    )
    directories = []
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder, _ = certificate(f"mlops-test second-engine {role}", key, ca_name)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if role == "server":
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_address))])
            builder = builder.add_extension(san, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        target = directory / role
        target.mkdir(parents=True)
        (target / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (target / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(target / "key.pem", key)
        directories.append(target)
    return directories[0], directories[1]


@contextmanager
def second_engine(scratch: Path, trust_host_registries: bool = False) -> Iterator[SecondEngine]:
    """Make the namespace, the veth pair and the engine; remove all three on the way out.

    `trust_host_registries`: the engine pulls over plain HTTP from registries on this host's end
    of the pair (the stack's registry, published on the worker address), as a user lists theirs
    in `insecure-registries`.
    """
    name = f"mlops-test-{secrets.token_hex(4)}"
    subnet = _free_subnet()
    host_end, engine_end = (str(a) for a in subnet.hosts())
    host_link, engine_link = f"mt{name[-8:]}h", f"mt{name[-8:]}n"
    data_root, exec_root = STATE_ROOT / name, Path("/run") / name
    server_dir, client_dir = make_certificates(scratch / "certs", engine_end)
    config = scratch / "daemon.json"
    config.write_text("{}\n")
    engine = SecondEngine(
        name,
        engine_end,
        host_end,
        client_dir,
        data_root,
        exec_root,
        host_link,
        arguments=[
            f"--host=tcp://{engine_end}:{PORT}",
            f"--host=unix://{exec_root}/docker.sock",
            "--tlsverify",
            f"--tlscacert={server_dir / 'ca.pem'}",
            f"--tlscert={server_dir / 'cert.pem'}",
            f"--tlskey={server_dir / 'key.pem'}",
            f"--config-file={config}",  # not the main engine's /etc/docker/daemon.json
            f"--data-root={data_root}",
            f"--exec-root={exec_root}",
            f"--pidfile={exec_root}/docker.pid",
            # Namespaces of its own, should it share a system containerd with the main engine.
            f"--containerd-namespace={name}",
            f"--containerd-plugins-namespace={name}-plugins",
            *([f"--insecure-registry={host_end}/32"] if trust_host_registries else []),
        ],
        log=scratch / "dockerd.log",
    )
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", host_link, "type", "veth", "peer", "name", engine_link)
        _run("ip", "link", "set", engine_link, "netns", name)
        _run("ip", "addr", "add", f"{host_end}/30", "dev", host_link)
        _run("ip", "link", "set", host_link, "up")
        for command in (
            ("ip", "addr", "add", f"{engine_end}/30", "dev", engine_link),
            ("ip", "link", "set", engine_link, "up"),
            ("ip", "link", "set", "lo", "up"),
            ("ip", "route", "add", "default", "via", host_end),
        ):
            _run("ip", "netns", "exec", name, *command)
        engine.start()
        yield engine
    finally:
        engine.stop()
        _run("ip", "netns", "del", name, check=False)  # its end of the pair goes with it, and so the pair
        _run("ip", "link", "del", host_link, check=False)
        _remove_root(data_root)
        with suppress(OSError):
            STATE_ROOT.rmdir()  # only when no other test's engine is there
        shutil.rmtree(exec_root, ignore_errors=True)
