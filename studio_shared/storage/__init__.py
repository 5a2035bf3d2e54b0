"""Object storage for artifacts: the `ObjectStore` port with a local-directory and an S3 adapter.

``store_from_settings(settings)`` picks the adapter from ``STUDIO_STORAGE_URL``; the S3 adapter
(`studio_shared.storage.s3.S3Store`) is imported only then. Keys come only from `object_key`.
"""

from __future__ import annotations

import re

from studio_shared.settings import Settings
from studio_shared.storage.base import (
    CHUNK_SIZE,
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    StoredObject,
    object_key,
    prefix_segments,
    safe_name,
)
from studio_shared.storage.local import LocalStore

__all__ = [
    "CHUNK_SIZE",
    "InvalidKey",
    "LocalStore",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "StorageError",
    "StoredObject",
    "create_bucket",
    "object_key",
    "safe_name",
    "store_from_settings",
]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_URL_FORMS = "file://<directory> (relative to the working directory, or file:///absolute) or s3://<bucket>[/<prefix>]"


def store_from_settings(settings: Settings) -> ObjectStore:
    """A `LocalStore` for ``file://<path>``, an `S3Store` for ``s3://bucket/optional/prefix``."""
    url = settings.storage_url
    if url.startswith("file://") and len(url) > len("file://"):
        return LocalStore(url.removeprefix("file://"))
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ValueError(f"STUDIO_STORAGE_URL {url!r}: {bucket!r} is not an S3 bucket name; use {_URL_FORMS}")
        if prefix:
            try:
                prefix_segments(prefix)
            except InvalidKey:
                raise ValueError(
                    f"STUDIO_STORAGE_URL {url!r}: the prefix {prefix!r} must be a plain folder path like a/b"
                ) from None
        from studio_shared.storage.s3 import S3Store

        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            path_style=settings.s3_path_style,
        )
    raise ValueError(f"STUDIO_STORAGE_URL {url!r} is not a storage URL; use {_URL_FORMS}")


async def create_bucket(settings: Settings) -> str:
    """``studio migrate`` with ``STUDIO_S3_CREATE_BUCKET=true``: create the bucket of the ``s3://`` storage URL when
    it is missing; returns what happened, in a line for the operator. `StorageError` when S3 refuses."""
    store = store_from_settings(settings)
    from studio_shared.storage.s3 import S3Store

    if not isinstance(store, S3Store):
        await store.close()
        raise ValueError(f"STUDIO_S3_CREATE_BUCKET is set but STUDIO_STORAGE_URL {settings.storage_url!r} is not s3://")
    try:
        created = await store.ensure_bucket()
    finally:
        await store.close()
    return f"S3 bucket {store.bucket!r} {'created' if created else 'already exists'}"
