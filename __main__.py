"""mlops-stack: a self-hosted MLOps platform on one Docker host.

Thin on purpose: read the stack's config once, build the components, export
where to log in. Everything else lives in components/.
"""

import pulumi
import pulumi_docker as docker

from components import config
from components.airflow import Airflow, AirflowArgs
from components.gitbucket import GitBucket, GitBucketArgs
from components.jenkins import Jenkins, JenkinsArgs
from components.minio import Minio, MinioArgs
from components.mysql import MySQL, MySQLArgs
from components.network import StackNetwork, StackNetworkArgs
from components.registry import Registry, RegistryArgs

stack = config.from_pulumi()
services = stack.services
provider = docker.Provider("docker", host=stack.docker_host)
opts = pulumi.ResourceOptions(providers={"docker": provider})

network = StackNetwork("network", StackNetworkArgs(stack=stack), opts)
pulumi.export("network", network.name)

if stack.enabled("mysql"):
    mysql = MySQL("mysql", MySQLArgs(stack=stack, service=services["mysql"], network=network.name), opts)
    pulumi.export("mysqlHost", f"{stack.host_address}:{mysql.host_port}")
    pulumi.export("mysqlRootPassword", mysql.root_password)

if stack.enabled("minio"):
    minio = Minio("minio", MinioArgs(stack=stack, service=services["minio"], network=network.name), opts)
    pulumi.export("minioS3Url", minio.host_url)
    pulumi.export("minioConsoleUrl", minio.console_url)
    pulumi.export("minioRootUser", minio.root_user)
    pulumi.export("minioRootPassword", minio.root_password)

if stack.enabled("registry"):
    registry = Registry("registry", RegistryArgs(stack=stack, service=services["registry"], network=network.name), opts)
    pulumi.export("registryUrl", registry.host_url)
    pulumi.export("registryPushPrefix", registry.push_prefix)

if stack.enabled("gitbucket"):
    gitbucket_db = mysql.database("gitbucket")
    gitbucket = GitBucket(
        "gitbucket",
        GitBucketArgs(
            stack=stack,
            service=services["gitbucket"],
            network=network.name,
            mysql=mysql,
            database=gitbucket_db,
        ),
        opts,
    )
    pulumi.export("gitbucketUrl", gitbucket.host_url)
    pulumi.export("gitbucketAdminUser", gitbucket.admin_user)
    pulumi.export("gitbucketAdminPassword", gitbucket.admin_password)

if stack.enabled("jenkins"):
    jenkins = Jenkins("jenkins", JenkinsArgs(stack=stack, service=services["jenkins"], network=network.name), opts)
    pulumi.export("jenkinsUrl", jenkins.host_url)
    pulumi.export("jenkinsAdminUser", jenkins.admin_user)
    pulumi.export("jenkinsAdminPassword", jenkins.admin_password)

if stack.enabled("airflow"):
    airflow_db = mysql.database("airflow")
    airflow = Airflow(
        "airflow",
        AirflowArgs(
            stack=stack,
            service=services["airflow"],
            network=network.name,
            mysql=mysql,
            database=airflow_db,
        ),
        opts,
    )
    pulumi.export("airflowUrl", airflow.host_url)
    pulumi.export("airflowAdminUser", airflow.admin_user)
    pulumi.export("airflowAdminPassword", airflow.admin_password)
