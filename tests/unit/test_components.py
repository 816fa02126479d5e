"""Each component built alone from its typed args, under Pulumi's mocks: what it registers
and what it exports, without the rest of the platform."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pytest

from components import config
from components.airflow import Airflow, AirflowArgs
from components.config import StackConfig
from components.gitbucket import GitBucket, GitBucketArgs, SeededRepo
from components.jenkins import Jenkins, JenkinsArgs
from components.minio import Minio, MinioArgs
from components.mlflow import MLflow, MLflowArgs
from components.mysql import MySQL, MySQLArgs
from components.network import StackNetwork, StackNetworkArgs
from components.phpmyadmin import PhpMyAdmin, PhpMyAdminArgs
from components.platform import SERVICES
from components.registry import ExternalRegistry, Registry, RegistryArgs
from tests.unit.conftest import BASE_CONFIG, Evaluation, env_of, evaluate, is_secret, mocked, plain, run

CONTAINER = "docker:index/container:Container"
NETWORK = "mlops-test-net"


def stack_config(**raw: Any) -> StackConfig:
    return config.load("mlops-stack", "unit", {**BASE_CONFIG, **raw}, SERVICES, frozenset())


def build_alone(
    build: Callable[[StackConfig], Mapping[str, pulumi.Input[Any]]],
    exit_codes: Mapping[str, int] | None = None,
    **raw: Any,
) -> Evaluation:
    evaluation = Evaluation()
    mocked(evaluation, "unit", exit_codes)
    stack = stack_config(**raw)
    run(evaluation, lambda: build(stack))
    return evaluation


def containers(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    return {c.name: c.inputs for c in evaluation.of_type(CONTAINER)}


def seconds(duration: str) -> int:
    """A Go duration as the program writes them ("6m0s", "20s")."""
    match = re.fullmatch(r"(?:(\d+)m)?(\d+)s", duration)
    assert match, duration
    return int(match.group(1) or 0) * 60 + int(match.group(2))


def test_the_network_alone() -> None:
    evaluation = build_alone(lambda s: {"name": StackNetwork("net", StackNetworkArgs(s)).name})
    [bridge] = evaluation.of_type("docker:index/network:Network")
    assert bridge.inputs["name"] == evaluation.outputs["name"] == "mlops-stack-unit-net"


def test_mysql_alone() -> None:
    evaluation = build_alone(lambda s: MySQL("db", MySQLArgs(s, s.services["mysql"], NETWORK)).outputs())
    assert set(containers(evaluation)) == {"db-server", "db-exporter"}  # with Prometheus, on by default
    assert evaluation.outputs["mysqlHost"] == "127.0.0.1:3306"
    assert is_secret(evaluation.outputs["mysqlRootPassword"])
    assert {r.name for r in evaluation.resources.values()} >= {"db", "db-data", "db-image", "db-server"}


def test_minio_alone_with_a_scoped_user() -> None:
    def build(s: StackConfig) -> Mapping[str, pulumi.Input[Any]]:
        server = Minio("s3", MinioArgs(s, s.services["minio"], NETWORK))
        server.service_user("dvc", ["de-datapreprocessing"])
        return server.outputs()

    evaluation = build_alone(build)
    assert evaluation.outputs["minioBuckets"] == ["de-datapreprocessing", "mlflow"]
    user = evaluation.named("s3-user-dvc-ensure")
    assert plain(user.inputs["environment"])["S3_USER_BUCKETS"] == "de-datapreprocessing"
    assert evaluation.depends_on(user, evaluation.named("s3-buckets"))


def test_minio_refuses_a_user_for_a_bucket_it_does_not_make() -> None:
    def build(s: StackConfig) -> Mapping[str, pulumi.Input[Any]]:
        Minio("s3", MinioArgs(s, s.services["minio"], NETWORK)).service_user("x", ["nope"])
        return {}

    with pytest.raises(Exception, match="buckets the stack does not create"):
        build_alone(build)


def test_the_local_registry_alone() -> None:
    evaluation = build_alone(lambda s: Registry("reg", RegistryArgs(s, s.services["registry"], NETWORK)).outputs())
    assert evaluation.outputs["registryUser"] == "mlops-pipeline" and is_secret(evaluation.outputs["registryPassword"])
    assert containers(evaluation)["reg-server"]["capabilities"] == {"drops": ["ALL"]}


def test_gitbucket_alone_on_its_database() -> None:
    def build(s: StackConfig) -> Mapping[str, pulumi.Input[Any]]:
        server = MySQL("db", MySQLArgs(s, s.services["mysql"], NETWORK))
        git = GitBucket("git", GitBucketArgs(s, s.services["gitbucket"], NETWORK, server, server.database("git")))
        git.repository(SeededRepo("dags", "dags", "DAGs", "dagsUrl"))
        return git.outputs()

    evaluation = build_alone(build)
    env = env_of(evaluation.named("git-server"))
    assert env["GITBUCKET_DB_URL"].startswith("jdbc:mysql://mysql:3306/git?") and env["GITBUCKET_DB_USER"] == "git"
    assert evaluation.depends_on(evaluation.named("git-repo-dags-ensure"), evaluation.named("git-root-password-set"))
    assert evaluation.outputs["gitbucketUrl"] == "http://127.0.0.1:8080"


def test_jenkins_alone_with_an_external_registry() -> None:
    def build(s: StackConfig) -> Mapping[str, pulumi.Input[Any]]:
        server = MySQL("db", MySQLArgs(s, s.services["mysql"], NETWORK))
        git = GitBucket("git", GitBucketArgs(s, s.services["gitbucket"], NETWORK, server, server.database("git")))
        repo = git.repository(SeededRepo("app", "gitbucket_repos/de_datapreprocessing", "app", "appUrl"))
        registry = ExternalRegistry(
            push_prefix="reg.example.com/team", server="reg.example.com", username=None, password=None
        )
        return Jenkins("ci", JenkinsArgs(s, s.services["jenkins"], NETWORK, git, repo, registry)).outputs()

    evaluation = build_alone(build)
    env = env_of(evaluation.named("ci-server"))
    assert env["REGISTRY_PUSH_PREFIX"] == "reg.example.com/team" and env["REGISTRY_AUTH"] == "false"
    assert evaluation.outputs["jenkinsPipelineUrl"] == "http://127.0.0.1:8090/job/de_datapreprocessing_pipeline/"

    # A first boot loads about 90 plugins (minutes on 2 cores): a start period of 5 minutes or
    # more, and a wait (`up`'s deadline) past the start period plus Docker's retries.
    server = containers(evaluation)["ci-server"]
    check = server["healthcheck"]
    start, interval, timeout = (seconds(check[k]) for k in ("startPeriod", "interval", "timeout"))
    assert start >= 300, check
    assert server["wait"] is True and server["waitTimeout"] > start + check["retries"] * (interval + timeout)


def test_airflow_alone_has_no_wiring() -> None:
    def build(s: StackConfig) -> Mapping[str, pulumi.Input[Any]]:
        server = MySQL("db", MySQLArgs(s, s.services["mysql"], NETWORK))
        return Airflow("af", AirflowArgs(s, s.services["airflow"], NETWORK, server, server.database("af"))).outputs()

    evaluation = build_alone(build, prometheus={"enabled": False}, grafana={"enabled": False})  # no StatsD exporter
    processes = containers(evaluation)
    assert set(processes) == {
        "db-server",
        "af-init",
        "af-api-server",
        "af-scheduler",
        "af-dag-processor",
        "af-triggerer",
    }
    env = env_of(evaluation.named("af-scheduler"))
    assert not [key for key in env if key.startswith("AIRFLOW_CONN_")]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("mysql+mysqldb://af:")


def build_mlflow(s: StackConfig, buckets: list[str] | None = None) -> Mapping[str, pulumi.Input[Any]]:
    db, store = (
        MySQL("db", MySQLArgs(s, s.services["mysql"], NETWORK)),
        Minio("s3", MinioArgs(s, s.services["minio"], NETWORK)),
    )
    user = store.service_user("mlflow", buckets or ["mlflow"])
    return MLflow("ml", MLflowArgs(s, s.services["mlflow"], NETWORK, db, db.database("mlflow"), store, user)).outputs()


def test_mlflow_alone_prepares_then_serves_behind_basic_auth() -> None:
    evaluation = build_alone(
        build_mlflow, prometheus={"enabled": False}, grafana={"enabled": False}
    )  # no metrics volume
    prepare, server = evaluation.named("ml-prepare"), evaluation.named("ml-server")
    assert evaluation.depends_on(server, prepare)
    assert evaluation.depends_on(prepare, evaluation.named("db-db-mlflow-ensure"))
    assert evaluation.depends_on(server, evaluation.named("s3-user-mlflow-ensure"))
    assert prepare.inputs["attach"] is True and prepare.inputs["mustRun"] is False
    command = server.inputs["command"]
    assert command[:4] == ["mlflow", "server", "--app-name", "basic-auth"]
    assert command[command.index("--artifacts-destination") + 1] == "s3://mlflow/artifacts"
    assert "--serve-artifacts" in command and "--expose-prometheus" in command
    assert server.inputs["user"] == prepare.inputs["user"] == "65534:65534"
    # Secrets travel in the environment and an uploaded file, never on a command line.
    assert not any("mock-secret" in part or "pymysql" in part for part in command + prepare.inputs["command"])
    env = env_of(server)
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("mysql+pymysql://mlflow:")
    assert env["AWS_ACCESS_KEY_ID"] == "mlflow" and env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "MLFLOW_ADMIN_PASSWORD" not in env and "MLFLOW_PIPELINE_PASSWORD" not in env  # the prepare step's only
    [ini] = plain(server.inputs["uploads"])
    assert "default_permission = NO_PERMISSIONS" in ini["content"]
    assert "database_uri = sqlite:////var/lib/mlflow-auth/basic_auth.db" in ini["content"]
    prepared = env_of(prepare)
    assert prepared["MLFLOW_PIPELINE_USER"] == "mlflow-pipeline" and prepared["MLFLOW_ADMIN_USER"] == "admin"
    assert prepared["MLFLOW_AUTH_DATABASE_URI"] == "sqlite:////var/lib/mlflow-auth/basic_auth.db"
    # The user store lives on the same volume in both containers.
    [users] = server.inputs["volumes"]
    assert prepare.inputs["volumes"] == [users] and users["containerPath"] == "/var/lib/mlflow-auth"
    uploaded = {u["file"] for u in plain(prepare.inputs["uploads"])}
    assert "/opt/mlops/mlops_clients/mlflow_server.py" in uploaded
    assert evaluation.outputs["mlflowUrl"] == "http://127.0.0.1:5050"
    assert is_secret(evaluation.outputs["mlflowAdminPassword"]) and is_secret(
        evaluation.outputs["mlflowPipelinePassword"]
    )


def test_a_failed_prepare_step_fails_the_update_and_starts_no_server() -> None:
    evaluation = Evaluation()
    mocked(evaluation, "unit", {"ml-prepare": 1})
    stack = stack_config()
    with pytest.raises(Exception, match=r"mlops-stack-unit-ml-prepare exited with code 1.*docker logs"):
        run(evaluation, lambda: build_mlflow(stack))
    names = {r.name for r in evaluation.resources.values()}
    assert "ml-prepare" in names and "ml-server" not in names


def test_mlflow_refuses_an_s3_user_of_another_bucket() -> None:
    with pytest.raises(Exception, match="scoped to the 'mlflow' bucket"):
        build_alone(lambda s: build_mlflow(s, ["de-datapreprocessing"]))


def test_mlflow_prepare_code_imports_only_the_standard_library_and_the_mlflow_image() -> None:
    """The prepare container gets these files only: each imports nothing else of the project."""
    import json
    import subprocess
    import sys

    from components.files import PROJECT_DIR
    from components.mlflow import CLIENT_FILES

    # What loads with the module (functions import MLflow's own libraries when they run), parsed
    # in a fresh interpreter: CPython 3.11.7's ast.parse can raise "AST constructor recursion
    # depth mismatch" in a process where an earlier test raised through deep recursion.
    top_level_imports = (
        "import ast, json, sys; tree = ast.parse(open(sys.argv[1]).read()); print(json.dumps("
        "[[a.name for a in n.names] if isinstance(n, ast.Import) else [n.module] "
        "for n in tree.body if isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom) and n.module)]))"
    )
    for file in CLIENT_FILES:
        path = str(PROJECT_DIR / "mlops_clients" / file)
        done = subprocess.run(
            [sys.executable, "-c", top_level_imports, path], capture_output=True, text=True, check=True
        )
        for names in json.loads(done.stdout):
            for name in names:
                top, _, rest = name.partition(".")
                if top == "mlops_clients":
                    assert f"{rest}.py" in CLIENT_FILES, (file, name)
                else:
                    assert top in sys.stdlib_module_names, (file, name)


def test_phpmyadmin_alone_holds_no_password() -> None:
    def build(s: StackConfig) -> Mapping[str, pulumi.Input[Any]]:
        server = MySQL("db", MySQLArgs(s, s.services["mysql"], NETWORK))
        return PhpMyAdmin("pma", PhpMyAdminArgs(s, s.services["phpmyadmin"], NETWORK, server)).outputs()

    evaluation = build_alone(build, phpmyadmin={"enabled": True})
    ui = containers(evaluation)["pma-server"]
    assert sorted(ui["envs"]) == ["PMA_HOST=mysql", "PMA_PORT=3306"]
    assert ui["ports"] == [{"internal": 80, "external": 8081, "ip": "127.0.0.1"}]
    assert evaluation.outputs == {"phpmyadminUrl": "http://127.0.0.1:8081"}


def test_phpmyadmin_in_the_platform_is_one_leaf_on_mysql() -> None:
    evaluation = evaluate({**BASE_CONFIG, "phpmyadmin": {"enabled": True}})
    ui = evaluation.named("phpmyadmin-server")
    assert evaluation.outputs["phpmyadminUrl"] == "http://127.0.0.1:8081"
    assert not any("mock-secret" in str(plain(value)) for value in ui.inputs.values())
    with pytest.raises(config.ConfigError, match="phpmyadmin is enabled but needs mysql"):
        evaluate(
            {
                **BASE_CONFIG,
                "phpmyadmin": {"enabled": True},
                "mysql": {"enabled": False},
                "airflow": {"enabled": False},
                "gitbucket": {"enabled": False},
                "jenkins": {"enabled": False},
            }
        )
