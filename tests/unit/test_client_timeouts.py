"""Every call of a client to a service is bounded in time and its result checked.

A "silent server" here is a socket on 127.0.0.1 that listens and never answers:
the kernel completes the connection, then nothing comes, as from a stalled
service. Each test is itself bounded: the call runs in a thread and the test
fails if it is still waiting after a few seconds (then closing the socket
resets the connection, so nothing is left waiting).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from mlops_clients import gitbucket, mysql
from mlops_clients.common import InputError, ServiceError, run_process

T = TypeVar("T")


def within(seconds: float, action: Callable[[], T]) -> T:
    """`action()`, or a test failure if it has not returned after `seconds`."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting after {seconds} s: the call has no timeout")
    if failure:
        raise failure[0]
    return outcome[0]


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "job.py").write_text("print(1)\n")
    return tmp_path / "seed"


def test_seeding_from_a_silent_git_server_stops_with_a_named_error(silent_port: int, source: Path) -> None:
    url = f"http://127.0.0.1:{silent_port}/git/root/app.git"
    started = time.monotonic()
    with pytest.raises(ServiceError) as raised:
        within(15, lambda: gitbucket.seed_repo(url, "root", "a-Password-1", source, timeout=2))
    assert raised.value.call == f"git clone {url}"
    assert raised.value.answer == "no answer within 2 s: stopped"
    assert time.monotonic() - started < 10


def test_a_stopped_command_takes_what_it_started_with_it(tmp_path: Path) -> None:
    """git runs helpers (git-remote-http): they go too, and nothing holds the output open."""
    marker = tmp_path / "grandchild.pid"
    started = time.monotonic()
    with pytest.raises(ServiceError, match="no answer within 1 s"):
        within(
            15,
            lambda: run_process(
                ["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], service="test", call="sleep", timeout=1
            ),
        )
    assert time.monotonic() - started < 4  # not the 5 s grace of a pipe still held open
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 5
    while running(grandchild):
        if time.monotonic() > deadline:
            pytest.fail(f"the command's child {grandchild} still runs")
        time.sleep(0.05)


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan stays one until init reaps it)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_git_exit_code_that_matters_is_checked(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True, timeout=30)
    with pytest.raises(ServiceError) as raised:
        gitbucket.run_git(["checkout", "--quiet", "no-such-branch"], tmp_path, "root", "a-Password-1")
    assert raised.value.call == "git checkout"
    assert "no-such-branch" in raised.value.answer
    accepted = gitbucket.run_git(
        ["rev-parse", "--verify", "--quiet", "refs/heads/nothing"], tmp_path, "root", "a-Password-1", ok=(0, 1)
    )
    assert accepted.returncode == 1


def test_a_seed_source_git_does_not_list_anything_of_is_refused(tmp_path: Path, silent_port: int) -> None:
    """An empty seed would push an empty commit: refused before any call to the server."""
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True, timeout=30)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "untracked.py").write_text("x = 1\n")
    with pytest.raises(InputError, match="no file to seed"):
        within(15, lambda: gitbucket.seed_repo(f"http://127.0.0.1:{silent_port}/x.git", "u", "p", tmp_path / "app"))


def test_a_silent_mysql_server_is_an_error_not_a_hang(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceError) as raised:
        within(15, lambda: mysql.connect("127.0.0.1", silent_port, "root", "x", wait_seconds=1, timeout=1))
    assert raised.value.call == f"connect to 127.0.0.1:{silent_port} as root"
    assert "timed out" in raised.value.answer
    assert time.monotonic() - started < 10
