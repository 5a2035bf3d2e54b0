"""The object-storage port: the protocol, its errors, and the key rules both adapters share.

StorageError
├── InvalidKey        a key that is not a canonical relative path (``..``, absolute, NUL …) or escapes the root
├── ObjectNotFound    no object under the key
└── ObjectTooLarge    a body passed ``max_bytes``; nothing was stored
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from studio_shared.errors import StudioError

CHUNK_SIZE = 64 * 1024
MAX_NAME_CHARS = 100

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_STEP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class StorageError(StudioError):
    """Base of the errors an object store raises on purpose; also raised by `ObjectStore.check`."""

    code = "STORAGE_ERROR"


class InvalidKey(StorageError):
    code = "INVALID_KEY"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"invalid object key {key!r}: {reason}")
        self.key = key


class ObjectNotFound(StorageError):
    code = "OBJECT_NOT_FOUND"

    def __init__(self, key: str) -> None:
        super().__init__(f"object {key!r} not found")
        self.key = key


class ObjectTooLarge(StorageError):
    code = "OBJECT_TOO_LARGE"

    def __init__(self, key: str, max_bytes: int) -> None:
        super().__init__(f"object {key!r} is larger than {max_bytes} bytes")
        self.key, self.max_bytes = key, max_bytes


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What `ObjectStore.put` wrote: the artifact row records these."""

    key: str
    size: int
    sha256: str  # hex
    content_type: str


class ObjectStore(Protocol):
    """Blobs under ``/``-separated keys; keys come from `object_key`, prefixes look like ``tenant/run/``."""

    async def put(
        self,
        key: str,
        body: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Stream `body` to `key`, replacing any object there; all or nothing, even when cancelled.

        Raises `ObjectTooLarge` once more than `max_bytes` arrive, leaving nothing behind.
        """
        ...

    def stream(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        """The object's bytes in chunks of at most `chunk_size`; `ObjectNotFound` on the first iteration.

        Iterate to the end or ``aclose()`` it: it holds a file or a connection until then.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is fine."""
        ...

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every object under the folder `prefix` (``tenant/run/`` for a run); a missing one is fine."""
        ...

    async def check(self) -> None:
        """Raise `StorageError` saying why the store is unusable (for readiness probes)."""
        ...

    async def close(self) -> None: ...


def object_key(tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str, name: str) -> str:
    """A fresh key ``tenant/run/step/<random>-<safe name>``: the server builds every key, never the user."""
    if not _STEP_ID.fullmatch(step_id):
        raise ValueError(f"step id {step_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    return f"{tenant_id}/{run_id}/{step_id}/{uuid.uuid4().hex}-{safe_name(name)}"


def safe_name(name: str) -> str:
    """`name` reduced to ``[A-Za-z0-9._-]``, without leading dots, at most 100 characters, never empty."""
    safe = _UNSAFE_NAME_CHARS.sub("_", name).lstrip(".")[:MAX_NAME_CHARS]
    return safe or "artifact"


def key_segments(key: str) -> list[str]:
    """The segments of a canonical relative key; `InvalidKey` for anything a filesystem could misread."""
    if not key:
        raise InvalidKey(key, "empty")
    if "\\" in key or "\0" in key:
        raise InvalidKey(key, "backslash or NUL")
    if key.startswith("/"):
        raise InvalidKey(key, "absolute")
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidKey(key, "empty, '.' or '..' segment")
    return segments


def prefix_segments(prefix: str) -> list[str]:
    """The segments of a folder prefix; a trailing ``/`` is optional, the whole store is never a prefix."""
    return key_segments(prefix.removesuffix("/"))


def chunks_of(body: bytes | AsyncIterable[bytes]) -> AsyncIterable[bytes]:
    """A body given whole or in chunks, as chunks."""
    return _single(body) if isinstance(body, bytes) else body


async def _single(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk


class Meter:
    """Size and SHA-256 of a body as it passes; `add` raises `ObjectTooLarge` before the excess is written."""

    def __init__(self, key: str, max_bytes: int | None) -> None:
        self.key, self.max_bytes = key, max_bytes
        self.size = 0
        self._sha256 = hashlib.sha256()

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise ObjectTooLarge(self.key, self.max_bytes)
        self._sha256.update(chunk)

    def stored(self, content_type: str) -> StoredObject:
        return StoredObject(self.key, self.size, self._sha256.hexdigest(), content_type)
