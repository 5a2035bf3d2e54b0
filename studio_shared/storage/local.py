"""Objects as files under one root directory: the embedded default. File IO runs in worker threads."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable
from contextlib import suppress
from pathlib import Path
from typing import IO

from studio_shared.storage.base import (
    CHUNK_SIZE,
    InvalidKey,
    Meter,
    ObjectNotFound,
    StorageError,
    StoredObject,
    chunks_of,
    key_segments,
    prefix_segments,
)

_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


class LocalStore:
    """Each key is a file under `root` (made absolute now, so a later ``chdir`` does not move it).

    A key must be canonical and its real path, symlinks resolved, must lie inside the real root. A write goes to
    a hidden temporary file beside its target and is renamed into place once complete.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    async def put(
        self,
        key: str,
        body: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        path, temp = await asyncio.to_thread(self._create_temp, key)
        meter = Meter(key, max_bytes)
        try:
            async for chunk in chunks_of(body):
                meter.add(chunk)
                await asyncio.to_thread(temp.write, chunk)
            await asyncio.to_thread(_commit, temp, path)
        except BaseException:
            await asyncio.to_thread(_discard, temp)
            raise
        return meter.stored(content_type)

    async def stream(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        file = await asyncio.to_thread(self._open, key)
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(self._delete_tree, prefix)

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    async def close(self) -> None:
        pass

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _resolve(self, key: str, segments: list[str]) -> Path:
        root = self._real_root()
        path = os.path.realpath(os.path.join(root, *segments))
        if not path.startswith(os.path.join(root, "")):
            raise InvalidKey(key, "resolves outside the storage root")
        return Path(path)

    def _create_temp(self, key: str) -> tuple[Path, IO[bytes]]:
        path = self._resolve(key, key_segments(key))
        directory = Path(self._real_root())
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for part in path.parent.relative_to(directory).parts:  # each level 0o700, unlike mkdir(parents=True)
            directory /= part
            with suppress(FileExistsError):
                directory.mkdir(mode=0o700)
        return path, tempfile.NamedTemporaryFile(dir=directory, prefix=".", suffix=".part", delete=False)

    def _open(self, key: str) -> IO[bytes]:
        try:
            return self._resolve(key, key_segments(key)).open("rb")
        except _MISSING:
            raise ObjectNotFound(key) from None

    def _delete(self, key: str) -> None:
        with suppress(*_MISSING):
            self._resolve(key, key_segments(key)).unlink()

    def _delete_tree(self, prefix: str) -> None:
        path = self._resolve(prefix, prefix_segments(prefix))
        if path.is_dir():
            shutil.rmtree(path)

    def _check(self) -> None:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the storage root {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"the storage root {self.root} is not writable")


def _commit(temp: IO[bytes], path: Path) -> None:
    temp.flush()
    os.fsync(temp.fileno())
    temp.close()
    os.replace(temp.name, path)


def _discard(temp: IO[bytes]) -> None:
    temp.close()
    with suppress(FileNotFoundError):
        os.unlink(temp.name)
