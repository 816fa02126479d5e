"""The S3 client against a real S3 server (MinIO, built locally from its Go module)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable

import botocore.exceptions
import pytest

from mlops_clients import s3
from mlops_clients.common import InputError
from mlops_clients.contracts import S3Env
from tests.support.containers import S3Server, new_password

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_buckets_are_created_once(s3_server: S3Server) -> None:
    client = s3.s3_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    first, second = unique("dvc"), unique("mlflow")
    assert s3.ensure_buckets(client, [first, second])["created"] == [first, second]
    client.put_object(Bucket=first, Key="kept", Body=b"data")
    assert s3.ensure_buckets(client, [first, second])["created"] == []
    assert client.get_object(Bucket=first, Key="kept")["Body"].read() == b"data"


@pytest.mark.parametrize("name", ["ab", "Upper", "under_score", "-dash", "a..b", "192.168.1.1", "x" * 64])
def test_invalid_bucket_names_are_refused_before_any_call(name: str) -> None:
    with pytest.raises(InputError, match="not a valid S3 bucket name"):
        s3.ensure_buckets(None, ["valid-one", name])


def test_a_scoped_user_reaches_its_bucket_only(s3_server: S3Server) -> None:
    client = s3.s3_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    own, other = unique("own"), unique("other")
    s3.ensure_buckets(client, [own, other])
    admin = s3.admin_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    user, secret = unique("dvc"), new_password()
    assert s3.ensure_scoped_user(admin, user, secret, [own])["policy"] == f"{user}-buckets"
    scoped = s3.s3_client(s3_server.endpoint, user, secret)
    scoped.put_object(Bucket=own, Key="a.txt", Body=b"x")
    assert [o["Key"] for o in scoped.list_objects_v2(Bucket=own)["Contents"]] == ["a.txt"]
    forbidden: list[Callable[[], object]] = [
        lambda: scoped.put_object(Bucket=other, Key="a.txt", Body=b"x"),
        lambda: scoped.list_objects_v2(Bucket=other),
        lambda: scoped.create_bucket(Bucket=unique("new")),
    ]
    for call in forbidden:
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            call()
    # MinIO lists only the buckets a user may list; the stand-in refuses the call: either way, not `other`.
    try:
        visible = {b["Name"] for b in scoped.list_buckets()["Buckets"]}
    except botocore.exceptions.ClientError as error:
        assert "AccessDenied" in str(error)
    else:
        assert visible == {own}


def test_a_scoped_user_adds_objects_but_can_never_delete_one(s3_server: S3Server) -> None:
    root = s3.s3_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    bucket = unique("dvc")
    s3.ensure_buckets(root, [bucket])
    admin = s3.admin_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    user, secret = unique("dvc"), new_password()
    s3.ensure_scoped_user(admin, user, secret, [bucket])
    scoped = s3.s3_client(s3_server.endpoint, user, secret)
    key = "files/md5/d4/1d8cd98f00b204e9800998ecf8427e"
    scoped.put_object(Bucket=bucket, Key=key, Body=b"version 1")
    assert scoped.get_object(Bucket=bucket, Key=key)["Body"].read() == b"version 1"
    # What `dvc push` does with a large file: a multipart upload (and an abort on failure).
    upload = scoped.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etag = scoped.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    scoped.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload=parts)
    aborted = scoped.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    scoped.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)

    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        scoped.delete_object(Bucket=bucket, Key=key)
    # MinIO answers DeleteObjects with a per-key AccessDenied; refusing the whole request would do as well.
    try:
        result = scoped.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}, {"Key": "big"}]})
    except botocore.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied"
    else:
        assert result.get("Deleted", []) == []
        assert {(e["Key"], e["Code"]) for e in result["Errors"]} == {(key, "AccessDenied"), ("big", "AccessDenied")}
    assert root.get_object(Bucket=bucket, Key=key)["Body"].read() == b"version 1"
    assert root.get_object(Bucket=bucket, Key="big")["Body"].read() == b"part"


def test_ensuring_a_user_again_is_harmless_and_rotates_its_secret(s3_server: S3Server) -> None:
    client = s3.s3_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    bucket = unique("rot")
    s3.ensure_buckets(client, [bucket])
    admin = s3.admin_client(s3_server.endpoint, s3_server.root_user, s3_server.root_password)
    user, old, new = unique("svc"), new_password(), new_password()
    s3.ensure_scoped_user(admin, user, old, [bucket])
    s3.ensure_scoped_user(admin, user, old, [bucket])
    s3.ensure_scoped_user(admin, user, new, [bucket])
    s3.s3_client(s3_server.endpoint, user, new).put_object(Bucket=bucket, Key="k", Body=b"v")
    with pytest.raises(botocore.exceptions.ClientError, match=r"InvalidAccessKeyId|SignatureDoesNotMatch"):
        s3.s3_client(s3_server.endpoint, user, old).put_object(Bucket=bucket, Key="k", Body=b"v")


def test_wrong_root_credentials_name_the_service_and_call(s3_server: S3Server) -> None:
    environment = {
        S3Env.ENDPOINT.value: s3_server.endpoint,
        S3Env.ROOT_USER.value: s3_server.root_user,
        S3Env.ROOT_PASSWORD.value: "wrong-password",
        S3Env.BUCKETS.value: unique("never"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlops_clients.s3", "ensure-buckets"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: s3: create bucket {environment[S3Env.BUCKETS]} failed:")
    assert "wrong-password" not in done.stderr
