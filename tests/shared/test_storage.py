"""Object storage: one contract for both adapters (a local directory, S3 against moto's server), the key rules,
the local store's confinement to its root, and the settings factory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from moto.server import ThreadedMotoServer

from studio_shared.settings import Settings
from studio_shared.storage import (
    InvalidKey,
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    StoredObject,
    object_key,
    safe_name,
    store_from_settings,
)
from studio_shared.storage.s3 import MIN_PART_BYTES, S3Store

MIB = 1024 * 1024
BUCKET = "studio-test"
SESSION = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")

Store = LocalStore | S3Store
Leftovers = Callable[[], Awaitable[list[str]]]


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
async def s3_admin(moto_endpoint: str) -> AsyncIterator[Any]:
    """A plain client on the moto server, for creating the bucket and looking behind the store's back."""
    async with SESSION.client("s3", endpoint_url=moto_endpoint) as client:
        await client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
async def local_store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    store = LocalStore(tmp_path / "root")
    yield store
    await store.close()


@pytest.fixture
async def s3_store(s3_admin: Any, moto_endpoint: str) -> AsyncIterator[S3Store]:
    store = S3Store(
        BUCKET,
        f"tests/{uuid.uuid4().hex}",  # each test its own corner of the shared bucket
        endpoint_url=moto_endpoint,
        path_style=True,
        session=SESSION,
        part_bytes=MIN_PART_BYTES,
    )
    yield store
    await store.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    result: Store = request.getfixturevalue(f"{request.param}_store")
    return result


@pytest.fixture
def leftovers(store: Store, request: pytest.FixtureRequest) -> Leftovers:
    """Everything the store holds: files (temporary ones too) or objects and pending multipart uploads."""
    if isinstance(store, LocalStore):

        async def files() -> list[str]:
            return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if not p.is_dir())

        return files
    admin = request.getfixturevalue("s3_admin")

    async def objects() -> list[str]:
        folder = store.prefix + "/"
        listed = await admin.list_objects_v2(Bucket=BUCKET, Prefix=folder)
        uploads = await admin.list_multipart_uploads(Bucket=BUCKET, Prefix=folder)
        pending = [f"upload:{u['Key']}" for u in uploads.get("Uploads", [])]
        return sorted([o["Key"] for o in listed.get("Contents", [])] + pending)

    return objects


async def read(store: ObjectStore, key: str, chunk_size: int = 64 * 1024) -> bytes:
    return b"".join([chunk async for chunk in store.stream(key, chunk_size=chunk_size)])


async def chunked(data: bytes, size: int, consumed: list[int] | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if consumed is not None:
            consumed.append(start)
        yield data[start : start + size]


def tree(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*"))


def stored(key: str, data: bytes, content_type: str) -> StoredObject:
    return StoredObject(key, len(data), hashlib.sha256(data).hexdigest(), content_type)


# --- the contract, against both stores ---------------------------------------------------------------------


async def test_bytes_roundtrip(store: Store) -> None:
    result = await store.put("t/r/s/hello.txt", b"hello", content_type="text/plain")
    assert result == stored("t/r/s/hello.txt", b"hello", "text/plain")
    assert await read(store, "t/r/s/hello.txt") == b"hello"


async def test_empty_body(store: Store) -> None:
    assert await store.put("t/r/s/empty", b"", content_type="text/plain") == stored("t/r/s/empty", b"", "text/plain")
    assert await read(store, "t/r/s/empty") == b""


async def test_chunked_body_spanning_several_parts_streams_back_in_chunks(store: Store) -> None:
    data = os.urandom(12 * MIB + 123)  # three multipart parts on S3
    result = await store.put("t/r/s/big.bin", chunked(data, MIB), content_type="application/octet-stream")
    assert result == stored("t/r/s/big.bin", data, "application/octet-stream")
    chunks = [chunk async for chunk in store.stream("t/r/s/big.bin", chunk_size=MIB)]
    assert len(chunks) > 1 and all(0 < len(chunk) <= MIB for chunk in chunks)
    assert b"".join(chunks) == data


async def test_put_replaces(store: Store, leftovers: Leftovers) -> None:
    await store.put("t/r/s/a", b"first", content_type="text/plain")
    await store.put("t/r/s/a", b"second", content_type="text/plain")
    assert await read(store, "t/r/s/a") == b"second"
    assert len(await leftovers()) == 1


async def test_missing_object(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="t/r/s/nothing"):
        await read(store, "t/r/s/nothing")


async def test_too_large_whole_body_leaves_nothing(store: Store, leftovers: Leftovers) -> None:
    with pytest.raises(ObjectTooLarge):
        await store.put("t/r/s/a", b"x" * 11, content_type="text/plain", max_bytes=10)
    assert await leftovers() == []
    assert await store.put("t/r/s/a", b"x" * 10, content_type="text/plain", max_bytes=10) == stored(
        "t/r/s/a", b"x" * 10, "text/plain"
    )


async def test_too_large_stream_stops_early_and_leaves_nothing(store: Store, leftovers: Leftovers) -> None:
    consumed: list[int] = []
    body = chunked(os.urandom(12 * MIB), MIB, consumed)
    with pytest.raises(ObjectTooLarge):  # on S3, after one part went up: the upload must be aborted
        await store.put("t/r/s/a", body, content_type="application/octet-stream", max_bytes=6 * MIB)
    assert len(consumed) == 7
    assert await leftovers() == []
    with pytest.raises(ObjectNotFound):
        await read(store, "t/r/s/a")


async def test_failing_body_keeps_the_previous_object(store: Store, leftovers: Leftovers) -> None:
    await store.put("t/r/s/a", b"old", content_type="text/plain")

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MIB)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        await store.put("t/r/s/a", broken(), content_type="text/plain")
    assert await read(store, "t/r/s/a") == b"old"
    assert len(await leftovers()) == 1


async def test_cancelled_put_leaves_nothing(store: Store, leftovers: Leftovers) -> None:
    sent = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MIB)
        yield b"x"
        sent.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(store.put("t/r/s/a", stalls(), content_type="text/plain"))
    await asyncio.wait_for(sent.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await leftovers() == []


async def test_delete(store: Store, leftovers: Leftovers) -> None:
    await store.put("t/r/s/a", b"a", content_type="text/plain")
    await store.delete("t/r/s/a")
    with pytest.raises(ObjectNotFound):
        await read(store, "t/r/s/a")
    await store.delete("t/r/s/a")
    await store.delete("never/was/here")
    assert await leftovers() == []


@pytest.mark.parametrize("prefix", ["t/r1/", "t/r1"])
async def test_delete_prefix_removes_one_run(store: Store, prefix: str) -> None:
    keys = ["t/r1/s1/a", "t/r1/s2/b", "t/r10/s1/c", "t/r2/s1/d", "t/r1x"]
    for key in keys:
        await store.put(key, key.encode(), content_type="text/plain")
    await store.delete_prefix(prefix)
    for key in keys[:2]:
        with pytest.raises(ObjectNotFound):
            await read(store, key)
    for key in keys[2:]:  # "t/r10" and "t/r1x" start with "t/r1" but are not under the folder
        assert await read(store, key) == key.encode()
    await store.delete_prefix(prefix)
    await store.delete_prefix("no/such/run/")


async def test_delete_prefix_needs_a_folder(store: Store) -> None:
    for prefix in ("", "/", "../", "t/../"):
        with pytest.raises(InvalidKey):
            await store.delete_prefix(prefix)


async def test_check(store: Store) -> None:
    await store.check()


async def test_abandoned_stream_releases_its_file_or_connection(store: Store) -> None:
    await store.put("t/a", b"x" * 10, content_type="text/plain")
    stream = store.stream("t/a", chunk_size=1)
    assert await anext(stream) == b"x"
    await stream.aclose()  # a file or response left open would fail the test with a ResourceWarning
    assert await read(store, "t/a") == b"x" * 10


# Keys no store accepts: each could mean a different file than it names, or none.
REJECTED_KEYS = [
    "",
    "/",
    "//",
    "/etc/passwd",
    "//etc/passwd",
    "/root/.ssh/authorized_keys",
    ".",
    "..",
    "./x",
    "../x",
    "../../../../../../etc/passwd",
    "a/..",
    "a/.",
    "a/./b",
    "a/../b",
    "a/../../x",
    "a/b/../../../x",
    "a//b",
    "a/",
    "a/b/",
    "a\\b",
    "..\\x",
    "a\\..\\..\\x",
    "C:\\Windows\\x",
    "\\\\server\\share\\x",
    "a\0b",
    "x\0/../../y",
    "a/\0",
]

# Keys that look suspicious but are plain names: no decoding or expansion ever happens, so they stay inside.
ODD_BUT_SAFE_KEYS = [
    "%2e%2e/%2e%2e/x",
    "..%2f..%2fetc%2fpasswd",
    "...",
    "..a/b",
    "a/..b",
    "a/b..",
    ".hidden",
    "~/x",
    "$HOME/x",
    "C:/x",
    "a b/c d",
    "ünïcødé/ключ",
]


@pytest.mark.parametrize("key", REJECTED_KEYS)
async def test_rejected_key(store: Store, leftovers: Leftovers, tmp_path: Path, key: str) -> None:
    before = tree(tmp_path)
    with pytest.raises(InvalidKey):
        await store.put(key, b"pwned", content_type="text/plain")
    with pytest.raises(InvalidKey):
        await read(store, key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    assert await leftovers() == []
    assert tree(tmp_path) == before  # not a byte anywhere under tmp_path, root included


@pytest.mark.parametrize("key", ODD_BUT_SAFE_KEYS)
async def test_odd_but_safe_key(store: Store, leftovers: Leftovers, key: str) -> None:
    await store.put(key, b"data", content_type="text/plain")
    assert await read(store, key) == b"data"
    assert len(await leftovers()) == 1
    if isinstance(store, LocalStore):
        assert (store.root / key).read_bytes() == b"data"
    await store.delete(key)
    assert await leftovers() == []


# --- local store: confinement, permissions, temporary files ------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_bytes(b"secret")
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


async def test_symlinked_directory_escaping_root_is_rejected(local_store: LocalStore, outside: Path) -> None:
    local_store.root.mkdir()
    (local_store.root / "t").mkdir()
    (local_store.root / "t" / "link").symlink_to(outside)
    before = snapshot(outside)
    for key in ("t/link/x", "t/link/secret", "t/link/new/dir/x"):
        with pytest.raises(InvalidKey, match="outside the storage root"):
            await local_store.put(key, b"pwned", content_type="text/plain")
        with pytest.raises(InvalidKey):
            await read(local_store, key)
        with pytest.raises(InvalidKey):
            await local_store.delete(key)
    for prefix in ("t/link", "t/link/"):
        with pytest.raises(InvalidKey):
            await local_store.delete_prefix(prefix)
    assert snapshot(outside) == before == {"secret": b"secret"}


async def test_symlinked_file_escaping_root_is_rejected(local_store: LocalStore, outside: Path) -> None:
    local_store.root.mkdir()
    (local_store.root / "leak").symlink_to(outside / "secret")
    with pytest.raises(InvalidKey):
        await read(local_store, "leak")
    with pytest.raises(InvalidKey):
        await local_store.put("leak", b"pwned", content_type="text/plain")
    with pytest.raises(InvalidKey):
        await local_store.delete("leak")
    assert (outside / "secret").read_bytes() == b"secret"


async def test_symlink_to_the_root_itself_cannot_wipe_it(local_store: LocalStore) -> None:
    await local_store.put("t/r/s/a", b"a", content_type="text/plain")
    (local_store.root / "again").symlink_to(local_store.root)
    with pytest.raises(InvalidKey):
        await local_store.delete_prefix("again/")
    assert await read(local_store, "t/r/s/a") == b"a"


async def test_symlinked_root_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    store = LocalStore(tmp_path / "alias")
    await store.put("t/r/s/a", b"a", content_type="text/plain")
    assert (tmp_path / "real" / "t" / "r" / "s" / "a").read_bytes() == b"a"


async def test_private_directories_and_files(local_store: LocalStore) -> None:
    await local_store.put("t/r/s/a", b"a", content_type="text/plain")
    for relative in ("t", "t/r", "t/r/s"):
        assert stat.S_IMODE((local_store.root / relative).stat().st_mode) == 0o700, relative
    assert stat.S_IMODE((local_store.root / "t/r/s/a").stat().st_mode) == 0o600


async def test_relative_root_is_fixed_at_construction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalStore("storage")
    monkeypatch.chdir("/")
    await store.put("t/a", b"a", content_type="text/plain")
    assert (tmp_path / "storage" / "t" / "a").read_bytes() == b"a"


async def test_local_check(tmp_path: Path) -> None:
    await LocalStore(tmp_path / "fresh").check()
    assert (tmp_path / "fresh").is_dir()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="storage root"):
        await LocalStore(tmp_path / "file").check()


# --- S3 store -------------------------------------------------------------------------------------------------


async def test_s3_keys_live_under_the_prefix_with_their_content_type(s3_store: S3Store, s3_admin: Any) -> None:
    await s3_store.put("t/r/s/page.html", b"<p>", content_type="text/html")
    head = await s3_admin.head_object(Bucket=BUCKET, Key=f"{s3_store.prefix}/t/r/s/page.html")
    assert head["ContentType"] == "text/html" and head["ContentLength"] == 3


async def test_s3_large_body_goes_up_in_parts(s3_store: S3Store, s3_admin: Any) -> None:
    data = os.urandom(11 * MIB)
    await s3_store.put("t/a", chunked(data, 3 * MIB), content_type="application/octet-stream")
    head = await s3_admin.head_object(Bucket=BUCKET, Key=f"{s3_store.prefix}/t/a")
    assert head["ETag"].strip('"').endswith("-2")  # two parts: 6 MiB, then 5 MiB
    assert head["ContentType"] == "application/octet-stream"


async def test_s3_check_fails_for_a_missing_bucket(moto_endpoint: str, s3_admin: Any) -> None:
    store = S3Store("no-such-bucket", endpoint_url=moto_endpoint, session=SESSION)
    with pytest.raises(StorageError, match="no-such-bucket"):
        await store.check()
    await store.close()


async def test_s3_client_reopens_after_close(s3_store: S3Store) -> None:
    await s3_store.put("t/a", b"a", content_type="text/plain")
    await s3_store.close()
    assert await read(s3_store, "t/a") == b"a"


def test_s3_part_size_has_a_floor() -> None:
    with pytest.raises(ValueError, match="part_bytes"):
        S3Store(BUCKET, part_bytes=MIB)


# --- object_key ---------------------------------------------------------------------------------------------------

TENANT, RUN = uuid.uuid4(), uuid.uuid4()
KEY_NAME = re.compile(r"[0-9a-f]{32}-[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


@pytest.mark.parametrize(
    "name",
    [
        "report.pdf",
        "../../etc/passwd",
        "a/b",
        "a\\b",
        "",
        ".",
        "..",
        "...",
        ".hidden",
        "/",
        "résumé.pdf",
        "日本語.txt",
        "nul\0byte",
        "line\nbreak",
        "x" * 500,
        "%2e%2e%2f",
        " ",
    ],
)
def test_object_key_confines_any_name(name: str) -> None:
    key = object_key(TENANT, RUN, "step_1", name)
    segments = key.split("/")
    assert segments[:3] == [str(TENANT), str(RUN), "step_1"]
    assert len(segments) == 4 and KEY_NAME.fullmatch(segments[3]), key


def test_safe_name() -> None:
    assert safe_name("report.pdf") == "report.pdf"
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("résumé final.pdf") == "r_sum__final.pdf"
    assert safe_name("...") == safe_name("") == "artifact"
    assert safe_name("x" * 500) == "x" * 100


def test_object_keys_are_unique() -> None:
    assert object_key(TENANT, RUN, "s", "a") != object_key(TENANT, RUN, "s", "a")


@pytest.mark.parametrize("step_id", ["", ".", "..", "../x", "a/b", "a.b", "a b", "x" * 65, "é"])
def test_object_key_rejects_a_bad_step_id(step_id: str) -> None:
    with pytest.raises(ValueError, match="step id"):
        object_key(TENANT, RUN, step_id, "a")


# --- store_from_settings -----------------------------------------------------------------------------------


async def test_file_url_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = store_from_settings(Settings(storage_url="file://.studio/storage"))
    assert isinstance(store, LocalStore) and store.root == tmp_path / ".studio" / "storage"
    store = store_from_settings(Settings(storage_url=f"file://{tmp_path}/abs"))
    assert isinstance(store, LocalStore) and store.root == tmp_path / "abs"


async def test_s3_url_with_credentials_from_the_environment(
    moto_endpoint: str, s3_admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in [
        ("AWS_ACCESS_KEY_ID", "env"),
        ("AWS_SECRET_ACCESS_KEY", "env"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
    ]:
        monkeypatch.setenv(name, value)
    prefix = f"settings/{uuid.uuid4().hex}"
    settings = Settings(storage_url=f"s3://{BUCKET}/{prefix}/", s3_endpoint_url=moto_endpoint, s3_path_style=True)
    store = store_from_settings(settings)
    assert isinstance(store, S3Store) and store.prefix == prefix
    try:
        await store.check()
        await store.put("t/a", b"a", content_type="text/plain")
        assert (await s3_admin.head_object(Bucket=BUCKET, Key=f"{prefix}/t/a"))["ContentLength"] == 1
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "file://",
        ".studio/storage",
        "/var/lib/studio",
        "http://bucket/x",
        "memory://",
        "s3://",
        "s3:///prefix",
        "s3://ab",
        "s3://Upper_Case",
        "s3://bucket/../x",
        "s3://bucket//x",
        "s3://bucket/a\\b",
    ],
)
def test_bad_storage_url(url: str) -> None:
    with pytest.raises(ValueError, match="STUDIO_STORAGE_URL"):
        store_from_settings(Settings(storage_url=url))
