"""Objects in an S3 bucket (AWS, MinIO, …) through aioboto3; credentials come from the standard AWS chain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterable
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from studio_shared.storage.base import (
    CHUNK_SIZE,
    Meter,
    ObjectNotFound,
    StorageError,
    StoredObject,
    chunks_of,
    key_segments,
    prefix_segments,
)

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part but the last

log = logging.getLogger(__name__)


class S3Store:
    """Each key is an object ``<prefix>/<key>`` in `bucket`; one client, opened on first use, serves every call.

    A body of up to `part_bytes` is sent in one ``PutObject``; a larger one as a multipart upload, aborted on
    any failure. `path_style` addresses ``endpoint/bucket/key``, as MinIO wants.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        session: aioboto3.Session | None = None,
        part_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES}, not {part_bytes}")
        self.bucket, self.prefix, self.part_bytes = bucket, prefix.strip("/"), part_bytes
        self._session = session or aioboto3.Session()
        self._client_options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "config": Config(s3={"addressing_style": "path" if path_style else "auto"}),
        }
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._opening = asyncio.Lock()

    async def put(
        self,
        key: str,
        body: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        name = self._name(key)
        s3 = await self._s3()
        meter = Meter(key, max_bytes)
        buffer = bytearray()
        upload: _Multipart | None = None
        try:
            async for chunk in chunks_of(body):
                meter.add(chunk)
                buffer += chunk
                if len(buffer) >= self.part_bytes:
                    upload = upload or await _Multipart.start(s3, self.bucket, name, content_type)
                    await upload.send(bytes(buffer))
                    buffer.clear()
            if upload is None:
                await s3.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer), ContentType=content_type)
            else:
                if buffer:
                    await upload.send(bytes(buffer))
                await upload.complete()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return meter.stored(content_type)

    async def stream(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._name(key))
        except s3.exceptions.NoSuchKey:
            raise ObjectNotFound(key) from None
        body = response["Body"]
        async with body:  # releases the connection however iteration ends
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self._name(key))

    async def delete_prefix(self, prefix: str) -> None:
        s3 = await self._s3()
        folder = self._join(prefix_segments(prefix)) + "/"
        async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not objects:
                continue
            result = await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
            if errors := result.get("Errors"):
                raise StorageError(f"could not delete {len(errors)} objects under {prefix!r}: {errors[0]}")

    async def check(self) -> None:
        try:
            s3 = await self._s3()
            await s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} is not usable: {exc}") from exc

    async def ensure_bucket(self) -> bool:
        """Create the bucket when it does not exist (``studio migrate`` with ``STUDIO_S3_CREATE_BUCKET``); True when
        this call created it. A bucket that exists and is ours is fine; one we may not use is a `StorageError`."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"S3 bucket {self.bucket!r} is not usable: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} is not reachable: {exc}") from exc
        region = self._client_options["region_name"]
        options: dict[str, Any] = {}
        if region and region != "us-east-1":  # S3 refuses us-east-1 as a location constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await s3.create_bucket(Bucket=self.bucket, **options)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou":
                return False  # another process created it between our two calls
            raise StorageError(f"could not create the S3 bucket {self.bucket!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"could not create the S3 bucket {self.bucket!r}: {exc}") from exc
        return True

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    client = self._session.client("s3", **self._client_options)
                    self._client = await self._stack.enter_async_context(client)
        return self._client

    def _name(self, key: str) -> str:
        return self._join(key_segments(key))

    def _join(self, segments: list[str]) -> str:
        return "/".join([self.prefix, *segments] if self.prefix else segments)


class _Multipart:
    """One multipart upload in progress, CRC32-checked part by part as boto3's transfer manager does."""

    def __init__(self, s3: Any, bucket: str, key: str, upload_id: str) -> None:
        self.s3, self.bucket, self.key, self.upload_id = s3, bucket, key, upload_id
        self.parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, s3: Any, bucket: str, key: str, content_type: str) -> _Multipart:
        response = await s3.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type, ChecksumAlgorithm="CRC32"
        )
        return cls(s3, bucket, key, response["UploadId"])

    async def send(self, data: bytes) -> None:
        number = len(self.parts) + 1
        response = await self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="CRC32",
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32": response["ChecksumCRC32"]})

    async def complete(self) -> None:
        await self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    async def abort(self) -> None:
        """Best effort: a failure is logged (a bucket lifecycle rule for incomplete uploads catches the rest)."""
        try:
            await self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception:
            log.warning("could not abort the multipart upload of %s", self.key, exc_info=True)
