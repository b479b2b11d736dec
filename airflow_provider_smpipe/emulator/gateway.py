"""How the engine reaches moto: boto3 clients pointed at the emulator itself, and moto's backends.

Jobs, S3 objects, SQS messages and EMR steps are created through the emulator's own HTTP endpoint,
so they go through moto's request handling exactly as a user's call would (and botocore checks the
resolved request against the Create* input shape first). Those internal calls carry the header
``X-Smpipe-Internal`` with the server's secret token (generated when the server is created, never
shown to clients) and are neither counted nor throttled; a request whose header does not carry that
token is a client's like any other. Pipelines (stored by moto's
``CreatePipeline``) and job objects (whose status the engine moves through InProgress/Completed/
Failed/Stopped) are read and patched in moto's in-memory backend directly.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_provider_smpipe.utils.jsonsafe import json_safe  # noqa: F401  (the engine imports it from here)

INTERNAL_HEADER = "X-Smpipe-Internal"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}


def moto_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def sagemaker_backend(account: str, region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account][region]


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def new_internal_token() -> str:
    """A per-server secret for the ``X-Smpipe-Internal`` header (256 random bits)."""
    return secrets.token_urlsafe(32)


class Gateway:
    """boto3 clients for the engine (one per service and region, created once, thread-safe to use).

    :param internal_token: the value of the ``X-Smpipe-Internal`` header these clients send (the
        server that owns this gateway honours only that value); a new random one when not given.
    """

    def __init__(self, endpoint_url: Callable[[], str], internal_token: str | None = None) -> None:
        self._endpoint_url = endpoint_url
        self.internal_token = internal_token or new_internal_token()
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._session = boto3.session.Session(botocore_session=botocore.session.Session())

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self._endpoint_url(),
                    config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30),
                    **CREDENTIALS,
                )
                client.meta.events.register("before-sign", self._mark_internal)
                self._clients[key] = client
            return self._clients[key]

    # -- S3 --------------------------------------------------------------------------------------

    def read_json(self, uri: str, region: str) -> Any:
        """The JSON document at ``uri``; ``KeyError`` when there is none (what the Resolver expects)."""
        bucket, key = split_s3_uri(uri)
        try:
            body = self.client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "NoSuchBucket", "404"):
                raise KeyError(uri) from None
            raise
        return json.loads(body)

    def write_object(self, uri: str, contents: Any, region: str) -> None:
        """Write ``contents`` (JSON-encoded unless it is a string) at ``uri``, creating the bucket."""
        bucket, key = split_s3_uri(uri)
        s3 = self.client("s3", region)
        self.ensure_bucket(bucket, region)
        body = contents if isinstance(contents, str) else json.dumps(contents)
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"))

    def delete_s3(self, target: str, region: str) -> list[str]:
        """Delete the object at ``target``, or every object under it when it ends in ``/``; return
        the URIs deleted. A missing bucket or object deletes nothing (S3's own answer)."""
        bucket, key = split_s3_uri(target)
        s3 = self.client("s3", region)
        if not target.endswith("/"):
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except ClientError:
                return []
            s3.delete_object(Bucket=bucket, Key=key)
            return [target]
        deleted: list[str] = []
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
            for page in pages:
                for item in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=item["Key"])
                    deleted.append(f"s3://{bucket}/{item['Key']}")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchBucket":
                raise
        return deleted

    def ensure_bucket(self, bucket: str, region: str) -> None:
        s3 = self.client("s3", region)
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                s3.create_bucket(**kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    # -- SQS -------------------------------------------------------------------------------------

    def queue_url(self, definition_url: str, region: str) -> tuple[str, str, bool]:
        """``(moto queue URL, queue region, created)`` for a definition's ``SqsQueueUrl``.

        The queue is found by its name (the URL's last path segment) in the region named by the
        URL's host (``sqs.<region>.amazonaws.com``), else the execution's; it is created when missing.
        """
        parsed = urlparse(definition_url)
        name = parsed.path.rstrip("/").rsplit("/", 1)[-1]
        host_parts = (parsed.hostname or "").split(".")
        queue_region = host_parts[1] if len(host_parts) > 2 and host_parts[0] == "sqs" else region
        sqs = self.client("sqs", queue_region)
        try:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"], queue_region, False
        except ClientError as exc:
            if "NonExistentQueue" not in exc.response["Error"]["Code"] and exc.response["Error"]["Code"] != "QueueDoesNotExist":
                raise
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if name.endswith(".fifo") else {}
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], queue_region, True

    def send_message(self, queue_url: str, region: str, body: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": json.dumps(body)}
        if queue_url.endswith(".fifo"):
            kwargs["MessageGroupId"] = "sagemaker-pipelines"
        self.client("sqs", region).send_message(**kwargs)

    def _mark_internal(self, request: Any, **_: Any) -> None:
        request.headers[INTERNAL_HEADER] = self.internal_token
