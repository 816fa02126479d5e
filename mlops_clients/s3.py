"""S3 (MinIO): the stack's buckets and bucket-scoped service users.

Idempotent: an existing bucket is kept; a user's secret and policy are
re-applied, so a rotated secret takes effect. Service users never get the root
credentials: their policy names their buckets only.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions
import certifi
import urllib3
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from mlops_clients.common import InputError, ServiceError, env, run_cli
from mlops_clients.contracts import S3Action, S3Env

SERVICE = "s3"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_USER = re.compile(r"^[A-Za-z0-9_.@-]{3,128}$")
CONNECT_TIMEOUT = 5  # seconds, for S3 (boto3) and MinIO's admin API alike
READ_TIMEOUT = 30
# Starting servers refuse connections for a while: botocore retries those too.
_RETRIES = botocore.config.Config(
    retries={"max_attempts": 12, "mode": "standard"}, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
)


def check_bucket_name(name: str) -> None:
    if not _BUCKET.match(name) or ".." in name or re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        raise InputError(
            f"'{name}' is not a valid S3 bucket name (3-63 of a-z 0-9 . -, starting and ending alphanumeric)"
        )


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=_RETRIES,
    )


def ensure_buckets(client: Any, buckets: list[str]) -> dict[str, Any]:
    for bucket in buckets:
        check_bucket_name(bucket)
    created = []
    for bucket in buckets:
        try:
            client.create_bucket(Bucket=bucket)
            created.append(bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except (botocore.exceptions.ClientError, botocore.exceptions.EndpointConnectionError) as error:
            raise ServiceError(SERVICE, f"create bucket {bucket}", str(error)) from error
    return {"buckets": buckets, "created": created}


def bucket_policy(buckets: list[str]) -> dict[str, Any]:
    """Read and add objects of these buckets, never delete (no bucket creation or deletion either).

    `dvc push` only lists, reads and puts, so no pipeline run can delete DVC data versions
    (AbortMultipartUpload drops an unfinished upload's parts, never an object). A put can still
    replace an object under the same key; only bucket versioning would keep the old content.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{b}" for b in buckets],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets],
            },
        ],
    }


def admin_client(endpoint: str, access_key: str, secret_key: str) -> MinioAdmin:
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"S3 endpoint '{endpoint}' must be an http(s) URL")
    # MinIO's own client waits 5 minutes to connect and 5 per read, retried 5 times: the same
    # client (its retries and certificates) with this module's timeouts instead.
    http_client = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
    return MinioAdmin(
        endpoint=parsed.netloc,
        credentials=StaticProvider(access_key, secret_key),
        secure=parsed.scheme == "https",
        http_client=http_client,
    )


def ensure_scoped_user(admin: MinioAdmin, user: str, secret: str, buckets: list[str]) -> dict[str, Any]:
    if not _USER.match(user):
        raise InputError(f"'{user}' is not a valid S3 user name (3-128 of A-Z a-z 0-9 _ . @ -)")
    if len(secret) < 8:
        raise InputError("an S3 user's secret must have at least 8 characters")
    for bucket in buckets:
        check_bucket_name(bucket)
    policy = f"{user}-buckets"
    try:
        admin.policy_add(policy, policy=bucket_policy(buckets))
        admin.user_add(user, secret)
        attached = json.loads(admin.user_info(user)).get("policyName", "") or ""
        if policy not in attached.split(","):
            admin.attach_policy([policy], user=user)
    except (MinioAdminException, ValueError, OSError) as error:
        raise ServiceError(SERVICE, f"ensure user {user} with policy {policy}", str(error)) from error
    return {"user": user, "policy": policy, "buckets": buckets}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _ensure_buckets_from_env() -> dict[str, Any]:
    client = s3_client(env(S3Env.ENDPOINT), env(S3Env.ROOT_USER), env(S3Env.ROOT_PASSWORD))
    return ensure_buckets(client, _csv(env(S3Env.BUCKETS)))


def _ensure_user_from_env() -> dict[str, Any]:
    admin = admin_client(env(S3Env.ENDPOINT), env(S3Env.ROOT_USER), env(S3Env.ROOT_PASSWORD))
    return ensure_scoped_user(admin, env(S3Env.USER), env(S3Env.USER_SECRET), _csv(env(S3Env.USER_BUCKETS)))


if __name__ == "__main__":
    run_cli({S3Action.ENSURE_BUCKETS: _ensure_buckets_from_env, S3Action.ENSURE_USER: _ensure_user_from_env})
