"""mlops-stack: a self-hosted MLOps platform on one Docker host.

Thin on purpose: read the stack's config once, build the components and wire
them, export where to log in. Everything else lives in components/.
"""

import pulumi
import pulumi_docker as docker

from components import config
from components.airflow import Airflow, AirflowArgs, AirflowWiring
from components.gitbucket import GitBucket, GitBucketArgs
from components.jenkins import Jenkins, JenkinsArgs
from components.minio import Minio, MinioArgs
from components.mysql import MySQL, MySQLArgs
from components.network import StackNetwork, StackNetworkArgs
from components.registry import ExternalRegistry, ImageRegistry, Registry, RegistryArgs

stack = config.from_pulumi()
services = stack.services
provider = docker.Provider("docker", host=stack.docker_host)
opts = pulumi.ResourceOptions(providers={"docker": provider})

network = StackNetwork("network", StackNetworkArgs(stack=stack), opts)
pulumi.export("network", network.name)
wiring = AirflowWiring()

if stack.enabled("mysql"):
    mysql = MySQL("mysql", MySQLArgs(stack=stack, service=services["mysql"], network=network.name), opts)
    pulumi.export("mysqlHost", f"{stack.host_address}:{mysql.host_port}")
    pulumi.export("mysqlRootPassword", mysql.root_password)

if stack.enabled("minio"):
    minio = Minio("minio", MinioArgs(stack=stack, service=services["minio"], network=network.name), opts)
    dvc_user = minio.service_user("dvc", ["de-datapreprocessing"])
    wiring.minio, wiring.dvc_user = minio, dvc_user
    pulumi.export("minioS3Url", minio.host_url)
    pulumi.export("minioConsoleUrl", minio.console_url)
    pulumi.export("minioRootUser", minio.root_user)
    pulumi.export("minioRootPassword", minio.root_password)
    pulumi.export("minioBuckets", minio.buckets)
    pulumi.export("dvcAccessKey", dvc_user.access_key)
    pulumi.export("dvcSecretKey", dvc_user.secret_key)

if stack.enabled("registry"):
    local_registry = Registry(
        "registry", RegistryArgs(stack=stack, service=services["registry"], network=network.name), opts
    )
    registry: ImageRegistry = local_registry
    pulumi.export("registryUrl", local_registry.host_url)
elif stack.external_registry is not None:
    registry = ExternalRegistry.from_config(stack.external_registry)
if stack.enabled("registry") or stack.external_registry is not None:
    wiring.registry = registry
    pulumi.export("registryPushPrefix", registry.push_prefix)
    if registry.username is not None:
        pulumi.export("registryUser", registry.username)

if stack.enabled("gitbucket"):
    gitbucket = GitBucket(
        "gitbucket",
        GitBucketArgs(
            stack=stack,
            service=services["gitbucket"],
            network=network.name,
            mysql=mysql,
            database=mysql.database("gitbucket"),
        ),
        opts,
    )
    app_repo = gitbucket.repository(
        "de_datapreprocessing", "gitbucket_repos/de_datapreprocessing", "Data preprocessing job (DVC on MinIO)"
    )
    dags_repo = gitbucket.repository("myairflow_dags", "dags", "Airflow DAGs, read by Airflow's git DAG bundle")
    wiring.gitbucket, wiring.pipeline_repo, wiring.dags_repo = gitbucket, app_repo, dags_repo
    pulumi.export("gitbucketUrl", gitbucket.host_url)
    pulumi.export("gitbucketAdminUser", gitbucket.admin_user)
    pulumi.export("gitbucketAdminPassword", gitbucket.admin_password)
    pulumi.export("appRepoCloneUrl", app_repo.host_clone_url)
    pulumi.export("dagsRepoCloneUrl", dags_repo.host_clone_url)

if stack.enabled("jenkins"):
    jenkins = Jenkins(
        "jenkins",
        JenkinsArgs(
            stack=stack,
            service=services["jenkins"],
            network=network.name,
            gitbucket=gitbucket,
            pipeline_repo=app_repo,
            registry=registry,
        ),
        opts,
    )
    pulumi.export("jenkinsUrl", jenkins.host_url)
    pulumi.export("jenkinsAdminUser", jenkins.admin_user)
    pulumi.export("jenkinsAdminPassword", jenkins.admin_password)
    pulumi.export("jenkinsPipelineUrl", jenkins.pipeline_url)

if stack.enabled("airflow"):
    airflow = Airflow(
        "airflow",
        AirflowArgs(
            stack=stack,
            service=services["airflow"],
            network=network.name,
            mysql=mysql,
            database=mysql.database("airflow"),
            wiring=wiring,
        ),
        opts,
    )
    pulumi.export("airflowUrl", airflow.host_url)
    pulumi.export("airflowAdminUser", airflow.admin_user)
    pulumi.export("airflowAdminPassword", airflow.admin_password)
