"""The resource graph of the whole program, under Pulumi's mocks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components import jenkins, platform
from components.base import SERVICE_LABEL
from components.config import ConfigError
from tests.support.jenkins_standin import preview_node_environment
from tests.unit.conftest import BASE_CONFIG, Evaluation, env_of, evaluate, is_secret, plain

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
COMMAND = "command:local:Command"
COMPONENTS = {
    "mlops:network:StackNetwork",
    "mlops:mysql:MySQL",
    "mlops:minio:Minio",
    "mlops:gitbucket:GitBucket",
    "mlops:jenkins:Jenkins",
    "mlops:airflow:Airflow",
    "mlops:registry:Registry",
    "mlops:model_api:ModelApi",
    "mlops:prometheus:Prometheus",
    "mlops:grafana:Grafana",
}


def test_every_output_is_declared_by_its_service(dev: Evaluation) -> None:
    declared = {name for spec in platform.SERVICES for name in spec.outputs} | {"network"}
    assert set(dev.outputs) <= declared, set(dev.outputs) - declared


def docker_names(evaluation: Evaluation) -> set[str]:
    return {r.inputs["name"] for r in evaluation.resources.values() if r.type in (CONTAINER, VOLUME, NETWORK)}


def test_every_service_is_a_component_and_every_resource_has_a_component_parent(dev: Evaluation) -> None:
    types = {r.type for r in dev.resources.values()}
    assert types >= COMPONENTS
    components = {r.urn for r in dev.resources.values() if r.type.startswith("mlops:")}
    for resource in dev.resources.values():
        if resource.type.startswith("mlops:") or resource.type.startswith("pulumi:providers:"):
            continue
        assert resource.parent in components, f"{resource.name} is not parented to a component"


def test_children_are_named_from_their_instance(dev: Evaluation) -> None:
    by_urn = dev.resources
    for resource in dev.resources.values():
        parent = by_urn.get(resource.parent)
        if parent is not None:
            assert resource.name.startswith(parent.name + "-"), (resource.name, parent.name)


def test_databases_wait_for_mysql_and_services_wait_for_their_database(dev: Evaluation) -> None:
    mysql = dev.named("mysql-server")
    gitbucket_db = dev.named("mysql-db-gitbucket-ensure")
    airflow_db = dev.named("mysql-db-airflow-ensure")
    assert dev.depends_on(gitbucket_db, mysql)
    assert dev.depends_on(airflow_db, mysql)
    assert dev.depends_on(dev.named("gitbucket-server"), gitbucket_db)
    assert dev.depends_on(dev.named("airflow-init"), airflow_db)
    assert not dev.depends_on(dev.named("gitbucket-server"), airflow_db)
    for process in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert dev.depends_on(dev.named(f"airflow-{process}"), dev.named("airflow-init"))
    assert dev.depends_on(dev.named("gitbucket-root-password-set"), dev.named("gitbucket-server"))


def _contains(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value
    if isinstance(value, dict):
        return any(_contains(v, needle) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, needle) for v in value)
    return False


def _plaintext_paths(value: Any, needle: str, path: str = "") -> list[str]:
    """Where `needle` occurs outside any secret wrapper."""
    if is_secret(value):
        return []
    if isinstance(value, str):
        return [path] if needle in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _plaintext_paths(v, needle, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _plaintext_paths(v, needle, f"{path}[{i}]")]
    return []


def test_every_generated_secret_reaches_containers_and_commands_only_as_a_secret(dev: Evaluation) -> None:
    secrets = [f"mock-secret-{r.name}" for r in dev.resources.values() if r.type.startswith("random:")]
    assert len(secrets) >= 10
    consumers = [r for r in dev.resources.values() if r.type in (CONTAINER, COMMAND)]
    used = set()
    for secret in secrets:
        for consumer in consumers:
            assert _plaintext_paths(consumer.inputs, secret) == [], f"{secret} in plaintext in {consumer.name}"
            if _contains(consumer.inputs, secret):
                used.add(secret)
    assert used == set(secrets), f"generated but never used: {set(secrets) - used}"


def test_passwords_are_exported_as_secret_outputs_and_urls_in_plaintext(dev: Evaluation) -> None:
    outputs = dev.outputs
    password_keys = [k for k in outputs if k.endswith("Password")]
    # One name per secret: each password output is named as the config key that sets it.
    # gitbucketPreviewPassword exists only with jenkins.previewRepo, redisAirflowPassword only with
    # Redis (tested there).
    assert (
        set(password_keys)
        == {key for spec in platform.SERVICES for key in spec.secrets}
        - {"gitbucketPreviewPassword", "redisAirflowPassword"}
        == {
            "mysqlRootPassword",
            "minioRootPassword",
            "gitbucketRootPassword",
            "gitbucketAutomationPassword",
            "jenkinsAdminPassword",
            "jenkinsMonitorPassword",
            "airflowAdminPassword",
            "registryPassword",
            "mlflowAdminPassword",
            "mlflowPipelinePassword",
            "mlflowModelApiPassword",
            "grafanaAdminPassword",
        }
    )
    for key in password_keys:
        assert is_secret(outputs[key]), key
    assert outputs["gitbucketUrl"] == "http://127.0.0.1:8080"
    assert outputs["airflowUrl"] == "http://127.0.0.1:8085"
    assert not is_secret(outputs["jenkinsUrl"])


def test_a_password_set_in_config_is_used_instead_of_a_generated_one() -> None:
    chosen = "chosen-jenkins-pass"
    evaluation = evaluate({**BASE_CONFIG, "jenkinsAdminPassword": chosen}, secret_keys=("jenkinsAdminPassword",))
    names = {r.name for r in evaluation.resources.values()}
    assert "jenkins-admin-password" not in names
    jenkins = evaluation.named("jenkins-server")
    assert _contains(jenkins.inputs, chosen)
    assert _plaintext_paths(jenkins.inputs, chosen) == []


@pytest.mark.parametrize("bind_address", ["127.0.0.1", "0.0.0.0"])
def test_every_published_port_is_bound_to_the_bind_address(bind_address: str) -> None:
    evaluation = evaluate({**BASE_CONFIG, "bindAddress": bind_address})
    ports = [p for c in evaluation.of_type(CONTAINER) for p in c.inputs.get("ports") or []]
    # mysql, minio s3 + console, gitbucket, jenkins, registry, airflow api, mlflow, model API, prometheus, grafana
    assert sorted(p["external"] for p in ports) == [3000, 3306, 5000, 5050, 8000, 8080, 8085, 8090, 9000, 9001, 9090]
    assert {p["ip"] for p in ports} == {bind_address}


def test_containers_follow_the_container_conventions(dev: Evaluation) -> None:
    for container in dev.of_type(CONTAINER):
        inputs = container.inputs
        assert inputs["memory"] > 0, container.name
        assert not inputs.get("privileged"), container.name
        labels = {label["label"]: label["value"] for label in inputs["labels"]}
        assert labels["mlops.stack"] == "mlops-stack-dev"
        if container.name in ("airflow-init", "mlflow-prepare", "modelapi-grant"):
            assert inputs["restart"] == "no" and inputs["mustRun"] is False
            continue
        assert inputs["restart"] == "unless-stopped", container.name
        assert inputs["wait"] is True and inputs["waitTimeout"] >= 60, container.name
        assert inputs["healthcheck"]["tests"][0] == "CMD-SHELL", container.name
        aliases = inputs["networksAdvanced"][0]["aliases"]
        assert aliases and container.inputs["name"] == f"mlops-stack-dev-{aliases[0]}"
    mounted = {v["containerPath"] for c in dev.of_type(CONTAINER) for v in c.inputs.get("volumes") or []}
    assert {"/var/lib/mysql", "/data", "/gitbucket", "/var/jenkins_home", "/opt/airflow/logs"} <= mounted


def test_only_jenkins_and_the_airflow_scheduler_get_the_docker_socket(dev: Evaluation) -> None:
    with_socket = {
        c.name
        for c in dev.of_type(CONTAINER)
        if any(v.get("hostPath") == "/var/run/docker.sock" for v in c.inputs.get("volumes") or [])
    }
    assert with_socket == {"jenkins-server", "airflow-scheduler"}
    for name in with_socket:
        assert dev.named(name).inputs["groupAdds"] == ["998"]


def test_volumes_are_kept_on_destroy_by_default_and_named_per_stack(dev: Evaluation) -> None:
    names = sorted(v.inputs["name"] for v in dev.of_type(VOLUME))
    assert names == sorted(
        f"mlops-stack-dev-{n}"
        for n in (
            "mysql-data",
            "minio-data",
            "mlflow-auth",
            "gitbucket-data",
            "jenkins-home",
            "airflow-logs",
            "registry-data",
            "mlflow-metrics",  # not retained: MLflow's metrics files, shared with its metrics sidecar
            "prometheus-data",
        )
    )


def test_two_stacks_on_one_host_share_no_docker_name_and_no_urn() -> None:
    dev = evaluate(BASE_CONFIG, stack="dev")
    staging = evaluate(BASE_CONFIG, stack="staging")
    assert docker_names(dev) and docker_names(dev).isdisjoint(docker_names(staging))
    assert set(dev.resources).isdisjoint(staging.resources)
    assert len(dev.resources) == len(staging.resources)


def test_urns_are_unique(dev: Evaluation) -> None:
    names = [(r.type, r.name) for r in dev.resources.values()]
    assert len(names) == len(set(names))


def test_disabled_services_register_nothing() -> None:
    evaluation = evaluate({**BASE_CONFIG, "jenkins": {"enabled": False}, "gitbucket": {"enabled": False}})
    services = {
        label["value"]
        for c in evaluation.of_type(CONTAINER)
        for label in c.inputs["labels"]
        if label["label"] == SERVICE_LABEL
    }
    assert services == {"mysql", "minio", "mlflow", "registry", "airflow", "modelApi", "prometheus", "grafana"}
    assert "jenkinsUrl" not in evaluation.outputs and "gitbucketUrl" not in evaluation.outputs


def test_image_overrides_reach_the_image_resources() -> None:
    evaluation = evaluate({**BASE_CONFIG, "mysql": {"image": "mirror.local:5000/mlops/mysql:8.4"}})
    assert evaluation.named("mysql-image").inputs["name"] == "mirror.local:5000/mlops/mysql:8.4"


def test_a_bad_config_registers_no_resource_and_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, "mysql": {"port": 70000}, "typo": 1, "airflow": {"image": "Bad Image"}})
    problems = raised.value.problems
    assert len(problems) == 3
    assert any("typo" in p for p in problems)
    assert any("mysql.port" in p for p in problems)
    assert any("airflow.image" in p for p in problems)


def test_buckets_and_the_dvc_user_follow_minio(dev: Evaluation) -> None:
    buckets = dev.named("minio-buckets")
    user = dev.named("minio-user-dvc-ensure")
    assert dev.depends_on(buckets, dev.named("minio-server"))
    assert dev.depends_on(user, buckets)
    assert plain(user.inputs["environment"])["S3_USER"] == "dvc"
    assert plain(user.inputs["environment"])["S3_USER_BUCKETS"] == "de-datapreprocessing"
    assert plain(buckets.inputs["environment"])["S3_BUCKETS"] == "de-datapreprocessing,mlflow"
    assert dev.outputs["dvcAccessKey"] == "dvc" and is_secret(dev.outputs["dvcSecretKey"])


def test_repos_are_seeded_after_the_root_password_and_hooked_to_jenkins(dev: Evaluation) -> None:
    admin = dev.named("gitbucket-root-password-set")
    for repo, source in (("de_datapreprocessing", "gitbucket_repos/de_datapreprocessing"), ("myairflow_dags", "dags")):
        ensure = dev.named(f"gitbucket-repo-{repo}-ensure")
        assert dev.depends_on(ensure, admin)
        assert plain(ensure.inputs["environment"])["SEED_SOURCE"] == source
        assert len(plain(ensure.inputs["environment"])["SEED_HASH"]) == 64
    hook = dev.named("gitbucket-repo-de_datapreprocessing-hook-jenkins")
    assert plain(hook.inputs["environment"])["HOOK_URL"] == (
        "http://jenkins:8080/git/notifyCommit?url=http://gitbucket:8080/git/root/de_datapreprocessing.git"
    )
    assert dev.depends_on(hook, dev.named("gitbucket-repo-de_datapreprocessing-ensure"))
    assert dev.depends_on(dev.named("jenkins-server"), dev.named("gitbucket-repo-de_datapreprocessing-ensure"))
    assert dev.outputs["appRepoCloneUrl"] == "http://127.0.0.1:8080/git/root/de_datapreprocessing.git"


def test_jenkins_is_built_from_the_configured_image_and_configured_as_code(dev: Evaluation) -> None:
    image = dev.named("jenkins-image")
    assert image.inputs["build"]["buildArgs"] == {"JENKINS_IMAGE": "jenkins/jenkins:2.568.2-lts-jdk21"}
    assert image.inputs["build"]["context"].endswith("images/jenkins")
    assert image.inputs["name"].startswith("mlops-stack-dev-jenkins:")
    envs = dev.named("jenkins-server").inputs["envs"]
    assert is_secret(envs)
    names = {e.split("=", 1)[0] for e in plain(envs)}
    needed = {"JENKINS_ADMIN_PASSWORD", "GITBUCKET_AUTOMATION_PASSWORD", "PIPELINE_REPO_URL", "REGISTRY_PUSH_PREFIX"}
    assert needed <= names
    assert dev.outputs["jenkinsPipelineUrl"] == "http://127.0.0.1:8090/job/de_datapreprocessing_pipeline/"


def test_airflow_reads_its_dags_from_gitbucket_and_gets_its_connections(dev: Evaluation) -> None:
    import json

    # Only the DAG processor waits for the seeded repos and the DVC user; the migration
    # and the other processes do not (README, "Benchmarks": a wait no service needs).
    init, dag_processor = dev.named("airflow-init"), dev.named("airflow-dag-processor")
    for ready in ("gitbucket-repo-myairflow_dags-ensure", "minio-user-dvc-ensure"):
        assert dev.depends_on(dag_processor, dev.named(ready))
        assert not dev.depends_on(init, dev.named(ready))
        for other in ("airflow-api-server", "airflow-scheduler", "airflow-triggerer"):
            assert not dev.depends_on(dev.named(other), dev.named(ready)), other
    envs = env_of(dev.named("airflow-scheduler"))
    bundle = json.loads(envs["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert bundle[0]["kwargs"]["git_conn_id"] == "gitbucket_dags"
    dags_conn = json.loads(envs["AIRFLOW_CONN_GITBUCKET_DAGS"])
    assert dags_conn["host"] == "http://gitbucket:8080/git/root/myairflow_dags.git"
    assert (dags_conn["login"], dags_conn["password"]) == (AUTOMATION_USER, AUTOMATION_PASSWORD)
    app_conn = json.loads(envs["AIRFLOW_CONN_GITBUCKET_DEFAULT"])
    assert app_conn["host"] == "http://gitbucket:8080/git/root/de_datapreprocessing.git"
    assert (app_conn["login"], app_conn["password"]) == (AUTOMATION_USER, AUTOMATION_PASSWORD)
    minio_conn = json.loads(envs["AIRFLOW_CONN_MINIO_DEFAULT"])
    assert minio_conn["login"] == "dvc" and minio_conn["extra"]["endpoint_url"] == "http://minio:9000"
    assert envs["DE_PREPROCESSING_IMAGE"] == "localhost:5000/de_datapreprocessing:latest"
    assert envs["MLOPS_DOCKER_NETWORK"] == "mlops-stack-dev-net"


ROOT_PASSWORD = "mock-secret-gitbucket-root-password"
AUTOMATION_USER = "mlops-automation"
AUTOMATION_PASSWORD = "mock-secret-gitbucket-automation-password"
GITBUCKET_SET_UP_STEPS = {
    "gitbucket-root-password-set",
    "gitbucket-automation-account",
    "gitbucket-repo-de_datapreprocessing-ensure",
    "gitbucket-repo-de_datapreprocessing-automation-collaborator",
    "gitbucket-repo-de_datapreprocessing-hook-jenkins",
    "gitbucket-repo-myairflow_dags-ensure",
    "gitbucket-repo-myairflow_dags-automation-collaborator",
    "gitbucket-repo-ds_mlmodeling-ensure",
    "gitbucket-repo-ds_mlmodeling-automation-collaborator",
    "gitbucket-repo-ds_mlmodeling-hook-jenkins",
}
AIRFLOW_CONTAINERS = {
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}


def test_gitbucket_root_reaches_no_container_only_the_set_up_steps_and_the_output(dev: Evaluation) -> None:
    """Root stays with the operator (README, "Security"): no service and no pipeline gets it."""
    assert not [c.name for c in dev.of_type(CONTAINER) if _contains(c.inputs, ROOT_PASSWORD)]
    holders = {r.name for r in dev.of_type(COMMAND) if _contains(r.inputs, ROOT_PASSWORD)}
    assert holders == GITBUCKET_SET_UP_STEPS
    for name in holders:
        assert _plaintext_paths(dev.named(name).inputs, ROOT_PASSWORD) == [], name
    assert plain(dev.outputs["gitbucketRootPassword"]) == ROOT_PASSWORD and is_secret(
        dev.outputs["gitbucketRootPassword"]
    )


def test_the_automation_account_reaches_jenkins_and_airflow_only_as_a_secret(dev: Evaluation) -> None:
    holders = {c.name for c in dev.of_type(CONTAINER) if _contains(c.inputs, AUTOMATION_PASSWORD)}
    assert holders == {"jenkins-server", *AIRFLOW_CONTAINERS}
    for name in holders:
        assert _plaintext_paths(dev.named(name).inputs, AUTOMATION_PASSWORD) == [], name
    jenkins = env_of(dev.named("jenkins-server"))
    automation = (jenkins["GITBUCKET_AUTOMATION_USER"], jenkins["GITBUCKET_AUTOMATION_PASSWORD"])
    assert automation == (AUTOMATION_USER, AUTOMATION_PASSWORD)
    # Of the set-up steps, only those that create it and make it a collaborator know it.
    commands = {r.name for r in dev.of_type(COMMAND) if _contains(r.inputs, AUTOMATION_PASSWORD)}
    assert commands == {"gitbucket-automation-account"}
    assert dev.outputs["gitbucketAutomationUser"] == AUTOMATION_USER
    assert is_secret(dev.outputs["gitbucketAutomationPassword"])
    assert plain(dev.outputs["gitbucketAutomationPassword"]) == AUTOMATION_PASSWORD


def test_the_automation_account_is_a_writer_of_each_seeded_repo_before_it_is_used(dev: Evaluation) -> None:
    account = dev.named("gitbucket-automation-account")
    assert dev.depends_on(account, dev.named("gitbucket-root-password-set"))
    env = plain(account.inputs["environment"])
    assert (env["GITBUCKET_USER"], env["GITBUCKET_AUTOMATION_USER"]) == ("root", AUTOMATION_USER)
    assert {"DB_USER", "DB_PASSWORD", "DB_NAME", "MYSQL_HOST"} <= env.keys()  # a rotation writes the hash
    for repo in ("de_datapreprocessing", "myairflow_dags"):
        collaborator = dev.named(f"gitbucket-repo-{repo}-automation-collaborator")
        assert collaborator.inputs["create"].endswith("mlops_clients.gitbucket ensure-collaborator")
        env = plain(collaborator.inputs["environment"])
        assert (env["REPO_NAME"], env["GITBUCKET_AUTOMATION_USER"]) == (repo, AUTOMATION_USER)
        assert dev.depends_on(collaborator, account)
        assert dev.depends_on(collaborator, dev.named(f"gitbucket-repo-{repo}-ensure"))
        assert dev.depends_on(dev.named("airflow-dag-processor"), collaborator)
    app = dev.named("gitbucket-repo-de_datapreprocessing-automation-collaborator")
    assert dev.depends_on(dev.named("jenkins-server"), app)
    assert dev.depends_on(dev.named("jenkins-server"), account)


def test_a_chosen_automation_password_is_used_instead_of_a_generated_one() -> None:
    chosen = "chosen-automation-pass"
    evaluation = evaluate(
        {**BASE_CONFIG, "gitbucketAutomationPassword": chosen}, secret_keys=("gitbucketAutomationPassword",)
    )
    assert "gitbucket-automation-password" not in {r.name for r in evaluation.resources.values()}
    for name in ("jenkins-server", "airflow-scheduler", "gitbucket-automation-account"):
        inputs = evaluation.named(name).inputs
        assert _contains(inputs, chosen) and _plaintext_paths(inputs, chosen) == [], name
    assert plain(evaluation.outputs["gitbucketAutomationPassword"]) == chosen


def test_airflow_without_gitbucket_has_no_dag_bundle() -> None:
    evaluation = evaluate({**BASE_CONFIG, "jenkins": {"enabled": False}, "gitbucket": {"enabled": False}})
    envs = env_of(evaluation.named("airflow-scheduler"))
    assert "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST" not in envs
    assert "AIRFLOW_CONN_MINIO_DEFAULT" in envs


def test_with_a_seed_every_password_is_derived_stable_and_secret() -> None:
    from components.base import derive_password

    seed = "a-seed-of-32-characters-or-more!"
    config = {"dockerSocketGid": 998, "secretSeed": seed}
    first = evaluate(config, secret_keys=("secretSeed",))
    assert not [r for r in first.resources.values() if r.type.startswith("random:")]
    root = derive_password(seed, "mysql-root-password")
    assert len(root) == 32 and root.isalnum()
    assert plain(first.outputs["mysqlRootPassword"]) == root and is_secret(first.outputs["mysqlRootPassword"])
    for consumer in [r for r in first.resources.values() if r.type in (CONTAINER, COMMAND)]:
        assert _plaintext_paths(consumer.inputs, root) == [], consumer.name
    assert _contains(first.named("mysql-server").inputs, root)
    again = evaluate(config, secret_keys=("secretSeed",))
    assert plain(again.outputs["airflowAdminPassword"]) == plain(first.outputs["airflowAdminPassword"])
    assert derive_password(seed, "airflow-admin-password") != derive_password(seed + "x", "airflow-admin-password")


EXTERNAL_REGISTRY_PASSWORD = "chosen-registry-token"


@pytest.fixture(scope="module")
def external() -> Evaluation:
    return evaluate(
        {
            **BASE_CONFIG,
            "externalRegistry": {"url": "registry.example.com:5443/team", "username": "ci-bot"},
            "externalRegistryPassword": EXTERNAL_REGISTRY_PASSWORD,
        },
        secret_keys=("externalRegistryPassword",),
    )


def test_an_external_registry_runs_no_local_registry(external: Evaluation) -> None:
    assert not external.of_type("mlops:registry:Registry")
    assert not [r for r in external.resources.values() if r.name.startswith("registry-")]
    assert external.outputs["registryPushPrefix"] == "registry.example.com:5443/team"
    assert external.outputs["registryUser"] == "ci-bot"
    assert "registryUrl" not in external.outputs


def test_the_local_registry_is_exported_with_its_login(dev: Evaluation) -> None:
    assert dev.outputs["registryPushPrefix"] == "localhost:5000" and dev.outputs["registryUser"] == "mlops-pipeline"
    assert dev.outputs["registryUrl"] == "http://127.0.0.1:5000"


def test_jenkins_pushes_to_the_external_registry_with_its_login(external: Evaluation) -> None:
    envs = external.named("jenkins-server").inputs["envs"]
    assert _contains(envs, EXTERNAL_REGISTRY_PASSWORD) and _plaintext_paths(envs, EXTERNAL_REGISTRY_PASSWORD) == []
    env = dict(e.split("=", 1) for e in plain(envs))
    assert env["REGISTRY_PUSH_PREFIX"] == "registry.example.com:5443/team"
    assert env["REGISTRY_SERVER"] == "registry.example.com:5443"
    assert env["REGISTRY_AUTH"] == "true"
    assert env["REGISTRY_USER"] == "ci-bot" and env["REGISTRY_PASSWORD"] == EXTERNAL_REGISTRY_PASSWORD


def test_jenkins_logs_in_to_the_local_registry(dev: Evaluation) -> None:
    env = env_of(dev.named("jenkins-server"))
    assert env["REGISTRY_AUTH"] == "true" and env["REGISTRY_PUSH_PREFIX"] == env["REGISTRY_SERVER"] == "localhost:5000"
    assert env["REGISTRY_USER"] == "mlops-pipeline"
    assert env["REGISTRY_PASSWORD"] == "mock-secret-registry-pipeline-password"


def test_airflow_pulls_from_the_external_registry_with_a_docker_connection(external: Evaluation) -> None:
    import json

    for process in ("api-server", "scheduler", "dag-processor", "triggerer"):
        envs = external.named(f"airflow-{process}").inputs["envs"]
        assert _plaintext_paths(envs, EXTERNAL_REGISTRY_PASSWORD) == []
    env = env_of(external.named("airflow-scheduler"))
    assert env["DE_PREPROCESSING_IMAGE"] == "registry.example.com:5443/team/de_datapreprocessing:latest"
    assert env["DE_PREPROCESSING_REGISTRY_CONN_ID"] == "registry_default"
    assert json.loads(env["AIRFLOW_CONN_REGISTRY_DEFAULT"]) == {
        "conn_type": "docker",
        "host": "registry.example.com",
        "port": 5443,
        "login": "ci-bot",
        "password": EXTERNAL_REGISTRY_PASSWORD,
    }


def test_airflow_logs_in_to_the_local_registry(dev: Evaluation) -> None:
    import json

    env = env_of(dev.named("airflow-scheduler"))
    assert env["DE_PREPROCESSING_IMAGE"] == "localhost:5000/de_datapreprocessing:latest"
    assert env["DE_PREPROCESSING_REGISTRY_CONN_ID"] == "registry_default"
    assert json.loads(env["AIRFLOW_CONN_REGISTRY_DEFAULT"]) == {
        "conn_type": "docker",
        "host": "localhost",
        "port": 5000,
        "login": "mlops-pipeline",
        "password": "mock-secret-registry-pipeline-password",
    }


def test_mysql_applies_the_configured_root_password_at_every_start(dev: Evaluation) -> None:
    """The image sets MYSQL_ROOT_PASSWORD on an empty data directory only: the server
    is started with an init file that sets it on every start, so a rotation takes effect."""
    server = dev.named("mysql-server")
    init_file = "/etc/mysql/mlops/root-password.sql"
    assert server.inputs["command"][:2] == ["mysqld", f"--init-file={init_file}"]
    assert is_secret(server.inputs["uploads"])
    [upload] = plain(server.inputs["uploads"])
    assert upload["file"] == init_file
    password = "mock-secret-mysql-root-password"
    assert password.encode().hex() in upload["content"]
    assert _plaintext_paths(server.inputs, password) == []


def test_planning_imports_no_client_library() -> None:
    """The program imports only what it needs to plan: the clients' libraries load when a client runs."""
    import subprocess
    import sys

    libraries = ("pymysql", "tenacity", "boto3", "botocore", "minio", "requests")
    code = f"import sys, components.platform; print(sorted(m for m in {libraries!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_every_container_runs_with_no_new_privileges_and_the_tolerant_ones_with_less(dev: Evaluation) -> None:
    """CIS Docker Benchmark 5.25, 5.3, 5.12 where the service tolerates them (README, "Security")."""
    for container in dev.of_type(CONTAINER):
        assert container.inputs["securityOpts"] == ["no-new-privileges:true"], container.name
    no_capabilities = {c.name for c in dev.of_type(CONTAINER) if (c.inputs.get("capabilities") or {}).get("drops")}
    assert no_capabilities == {
        "minio-server",
        "registry-server",
        "airflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "mlflow-prepare",
        "mlflow-server",
        "modelapi-grant",
        "modelapi-server-1",
        "mlflow-metrics",
        "mysql-exporter",
        "airflow-statsd",
        "prometheus-server",
        "grafana-server",
    }
    # None tolerates a read-only root filesystem (README, "Security": the exceptions and why).
    assert not [c.name for c in dev.of_type(CONTAINER) if c.inputs.get("readOnly")]
    for container in dev.of_type(CONTAINER):
        assert container.inputs.get("user") != "0", container.name


def test_no_password_is_on_a_command_line(dev: Evaluation) -> None:
    """`ps` shows every host user the command lines of containers' processes."""
    for container in dev.of_type(CONTAINER):
        command = " ".join(plain(container.inputs.get("command") or []))
        assert "--password" not in command, container.name
        assert "mock-secret" not in command, container.name
    for resource in dev.of_type(COMMAND):
        assert "mock-secret" not in resource.inputs["create"], resource.name


def test_the_local_registry_wants_a_login_that_only_jenkins_and_airflow_get(dev: Evaluation) -> None:
    import bcrypt

    from components.registry import htpasswd_line

    registry = dev.named("registry-server")
    assert "REGISTRY_AUTH=htpasswd" in registry.inputs["envs"]
    assert is_secret(registry.inputs["uploads"])
    [upload] = plain(registry.inputs["uploads"])
    password = "mock-secret-registry-pipeline-password"
    user, hashed = upload["content"].strip().split(":", 1)
    assert user == "mlops-pipeline" and bcrypt.checkpw(password.encode(), hashed.encode())
    assert htpasswd_line(user, password) == upload["content"]  # the same file every time: no diff
    holders = {c.name for c in dev.of_type(CONTAINER) if _contains(c.inputs, password)}
    assert holders == {
        "jenkins-server",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-init",
    }
    assert is_secret(dev.outputs["registryPassword"])


def test_a_bind_address_beyond_loopback_is_warned_about_naming_every_exposed_service(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING"):
        evaluate({**BASE_CONFIG, "bindAddress": "0.0.0.0"})
    [warning] = [r.getMessage() for r in caplog.records if "is not loopback" in r.getMessage()]
    for service in ("mysql (3306)", "minio (9000, 9001)", "registry (5000)", "gitbucket (8080)", "airflow (8085)"):
        assert service in warning, warning
    caplog.clear()
    with caplog.at_level("WARNING"):
        evaluate(BASE_CONFIG)
    assert not [r for r in caplog.records if "is not loopback" in r.getMessage()]


def test_the_training_repo_gets_its_jenkins_job_and_webhook_only_with_mlflow(dev: Evaluation) -> None:
    env = env_of(dev.named("jenkins-server"))
    assert env["TRAINING_REPO_URL"] == "http://gitbucket:8080/git/root/ds_mlmodeling.git"
    hook = plain(dev.named("gitbucket-repo-ds_mlmodeling-hook-jenkins").inputs["environment"])
    assert hook["HOOK_URL"].endswith("notifyCommit?url=http://gitbucket:8080/git/root/ds_mlmodeling.git")
    without = evaluate({**BASE_CONFIG, "mlflow": {"enabled": False}, "modelApi": {"enabled": False}})
    assert "TRAINING_REPO_URL" not in env_of(without.named("jenkins-server"))
    assert not [r.name for r in without.resources.values() if "ds_mlmodeling" in r.name]
    assert "MLOPS_MLFLOW_CONN_ID" not in env_of(without.named("airflow-scheduler"))
    assert env_of(dev.named("airflow-scheduler"))["MLOPS_MLFLOW_CONN_ID"] == "mlflow_default"


PREVIEW_CONFIG = {**BASE_CONFIG, "jenkins": {"previewRepo": "infra", "previewStacks": ["dev", "staging"]}}


def test_previews_are_off_by_default(dev: Evaluation) -> None:
    env = env_of(dev.named("jenkins-server"))
    assert not [k for k in env if k.startswith("PREVIEW_") or k == "CASC_JENKINS_CONFIG"]
    assert "previewRepoCloneUrl" not in dev.outputs
    assert not [r.name for r in dev.resources.values() if "infra" in r.name]


def test_a_preview_repo_is_created_empty_hooked_for_pull_requests_and_given_to_jenkins() -> None:
    evaluation = evaluate(PREVIEW_CONFIG)
    ensure = plain(evaluation.named("gitbucket-repo-infra-ensure").inputs["environment"])
    assert ensure["REPO_NAME"] == "infra" and "SEED_SOURCE" not in ensure and "SEED_HASH" not in ensure
    # Its only reader is the preview account, which only Jenkins holds; never the automation account.
    account = evaluation.named("jenkins-preview-account")
    assert plain(account.inputs["environment"])["GITBUCKET_AUTOMATION_USER"] == jenkins.PREVIEW_USER
    writer = evaluation.named("gitbucket-repo-infra-reader-collaborator")
    assert plain(writer.inputs["environment"])["GITBUCKET_AUTOMATION_USER"] == jenkins.PREVIEW_USER
    assert plain(writer.inputs["environment"])["GITBUCKET_AUTOMATION_PERMISSION"] == "pull"  # reads, comments
    assert evaluation.depends_on(writer, account)
    assert not [
        r.name for r in evaluation.resources.values() if r.name == "gitbucket-repo-infra-automation-collaborator"
    ]
    seeded_writer = evaluation.named("gitbucket-repo-de_datapreprocessing-automation-collaborator")
    assert "GITBUCKET_AUTOMATION_PERMISSION" not in plain(seeded_writer.inputs["environment"])  # push
    password = "mock-secret-jenkins-preview-password"
    consumers = [
        r.name
        for r in evaluation.resources.values()
        if r.type in (CONTAINER, COMMAND) and _contains(r.inputs, password)
    ]
    assert sorted(consumers) == ["jenkins-preview-account", "jenkins-server"], consumers
    assert is_secret(evaluation.outputs["gitbucketPreviewPassword"])
    assert evaluation.outputs["gitbucketPreviewUser"] == jenkins.PREVIEW_USER
    hook = plain(evaluation.named("gitbucket-repo-infra-hook-jenkins").inputs["environment"])
    assert hook["HOOK_URL"] == "http://jenkins:8080/git/notifyCommit?url=http://gitbucket:8080/git/root/infra.git"
    assert hook["HOOK_EVENTS"] == "push,pull_request"
    seeded = plain(evaluation.named("gitbucket-repo-de_datapreprocessing-hook-jenkins").inputs["environment"])
    assert "HOOK_EVENTS" not in seeded  # push, the client's default: an existing stack's hooks unchanged
    server = evaluation.named("jenkins-server")
    assert evaluation.depends_on(server, writer)
    env = env_of(server)
    assert env["CASC_JENKINS_CONFIG"] == f"{jenkins.CASC},{jenkins.PREVIEW_CASC}"
    assert env["PREVIEW_REPO_URL"] == "http://gitbucket:8080/git/root/infra.git"
    assert env["PREVIEW_REPO_HOST_URL"] == "http://127.0.0.1:8080/git/root/infra.git"
    assert env["PREVIEW_REPO"] == "root/infra" and env["PREVIEW_GITBUCKET_URL"] == "http://127.0.0.1:8080"
    assert env["PREVIEW_STACKS"] == "dev staging"
    assert env["PREVIEW_AGENT_DIR"] == "/var/tmp/mlops-stack-dev-jenkins-agent"
    assert env["GITBUCKET_PREVIEW_USER"] == jenkins.PREVIEW_USER
    # What a build on the agent sees (JCasC's node variables from this environment) holds every
    # PREVIEW_ variable the Jenkinsfile reads.
    node = preview_node_environment(env)
    used = set(re.findall(r"\$\{?(PREVIEW_\w+)", (PROJECT_DIR / jenkins.PREVIEW_JENKINSFILE).read_text()))
    assert used and used <= set(node), used - set(node)
    assert node["PREVIEW_STACKS"] == "dev staging" and node["PREVIEW_REPO"] == "root/infra"
    assert evaluation.outputs["previewRepoCloneUrl"] == "http://127.0.0.1:8080/git/root/infra.git"
    assert evaluation.outputs["previewAgentDir"] == env["PREVIEW_AGENT_DIR"]
    alone = evaluate({**BASE_CONFIG, "jenkins": {"previewRepo": "infra"}}, stack="team-a")
    assert env_of(alone.named("jenkins-server"))["PREVIEW_STACKS"] == "team-a"  # its own stack


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"previewRepo": "bad name"}, "'jenkins.previewRepo' 'bad name' is not a repository name GitBucket accepts"),
        ({"previewRepo": 7}, "'jenkins.previewRepo' must be a repository name, got 7"),
        ({"previewRepo": "x", "previewStacks": "dev"}, "'jenkins.previewStacks' must be a non-empty list"),
        ({"previewRepo": "x", "previewStacks": ["dev", "Prod X"]}, "holds invalid stack name(s): 'Prod X'"),
        (
            {"previewRepo": "De_DataPreprocessing"},
            "'jenkins.previewRepo' 'De_DataPreprocessing' is a repository the stack seeds",
        ),
        ({"previewRepo": "ds_mlmodeling"}, "'jenkins.previewRepo' 'ds_mlmodeling' is a repository the stack seeds"),
        ({"previewStacks": ["dev"]}, "'jenkins.previewStacks' is set but 'jenkins.previewRepo' is not"),
        ({"previewRepo": ""}, "'jenkins.previewRepo' '' is not a repository name"),
    ],
)
def test_bad_preview_settings_are_refused_naming_the_key(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, "jenkins": settings})
    assert any(problem in p for p in raised.value.problems), raised.value.problems
