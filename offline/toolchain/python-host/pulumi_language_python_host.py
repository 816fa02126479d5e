"""Minimal Pulumi language host for Python programs.

Replaces pulumi's Go `pulumi-language-python` (not served by the Go module
proxy). Like the original, it runs each program through the
`pulumi-language-python-exec` script shipped with the pulumi SDK (installed
beside this file), passing the same arguments and environment, so the Python
SDK sees no difference. Plugins are not pre-computed (GetRequiredPackages is
empty): the engine loads each provider when the program first uses it, at the
exact version the provider's Python SDK asks for.
"""

import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc  # type: ignore[import-untyped]
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

HERE = os.path.dirname(os.path.realpath(__file__))
EXEC = os.path.join(HERE, "pulumi-language-python-exec")
VERSION = os.environ.get("MLOPS_PYTHON_HOST_VERSION", "3.274.1")
# exit code the exec script uses after it has shown the user an error itself
BAIL_EXIT_CODE = 32


class PythonHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine: str):
        self.engine = engine

    def Handshake(self, request: Any, context: Any) -> language_pb2.LanguageHandshakeResponse:
        if request.engine_address:
            self.engine = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> language_pb2.GetRequiredPluginsResponse:
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> language_pb2.GetRequiredPackagesResponse:
        return language_pb2.GetRequiredPackagesResponse()

    def GetProgramDependencies(self, request: Any, context: Any) -> language_pb2.GetProgramDependenciesResponse:
        return language_pb2.GetProgramDependenciesResponse()

    def About(self, request: Any, context: Any) -> language_pb2.AboutResponse:
        return language_pb2.AboutResponse(executable=sys.executable, version=platform.python_version())

    def InstallDependencies(self, request: Any, context: Any) -> Iterator[language_pb2.InstallDependenciesResponse]:
        # Dependencies are the project's business (its virtualenv); nothing to stream.
        return iter(())

    def Run(self, request: Any, context: Any) -> language_pb2.RunResponse:
        info = request.info
        program_dir = info.program_directory or request.pwd or os.getcwd()
        entry = info.entry_point or "."
        program = program_dir if entry == "." else os.path.join(program_dir, entry)
        args = [
            *(sys.executable, "-u", EXEC),
            *("--monitor", request.monitor_address),
            *("--engine", self.engine),
            *("--project", request.project),
            *("--stack", request.stack),
            *("--pwd", request.pwd or program_dir),
            *("--dry_run", "true" if request.dryRun else "false"),
            *("--parallel", str(request.parallel)),
            *("--organization", request.organization),
            *("--root_directory", info.root_directory or program_dir),
            program,
            *request.args,
        ]
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        rc = subprocess.call(args, env=env, cwd=request.pwd or program_dir)
        if rc == 0:
            return language_pb2.RunResponse()
        if rc == BAIL_EXIT_CODE:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {rc}")


def main() -> None:
    engine = next((a for a in reversed(sys.argv[1:]) if not a.startswith("-")), "")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(PythonHost(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)  # the CLI reads the port from the first line
    # The CLI stops language hosts with a signal: exit quietly, no traceback.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os._exit(0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
