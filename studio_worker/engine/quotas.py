"""Stored-output quotas: how many bytes of JSON a run, and all runs of a tenant, may keep.

A run's total (``runs.stored_bytes``) is exact: its driver holds the lease, counts each batch's encoded bytes and
the fenced batch statement adds them. A tenant's total is the sum of its runs' totals, which no commit touches
(a per-tenant counter would be one row that every commit of the tenant waits for). Each process reads the sum
when a driver of the tenant's runs loads and it is older than ``REFRESH_S``, and adds what its own drivers
admit in between; a step is refused only on a sum read less than ``REFUSE_FRESH_S`` ago, so ``deleteRun`` frees
budget within that long.

Overshoot bound: what other processes store for the tenant after this process's last read, that is at most
``REFRESH_S`` of their writes, and never more than the per-run quota for each of the tenant's runs they drive.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.settings import Settings
from studio_worker.engine.records import limits

REFRESH_S = 5.0  # a tenant's total is re-read at least this often while its runs store data
REFUSE_FRESH_S = 1.0  # a refusal rests on a total read at most this long ago
MAX_TENANTS = 10_000  # totals cached per process (least recently used dropped)


@dataclass
class TenantUsage:
    """One tenant's stored bytes as this process knows them, and its limits (0: none)."""

    stored: int
    tenant_limit: int
    run_limit: int
    tenant_limit_name: str
    run_limit_name: str
    read_at: float


class Quotas:
    """Per-process view of every tenant's stored bytes (see the module's doc)."""

    def __init__(self, settings: Settings, reader: AsyncEngine) -> None:
        self.settings, self.reader = settings, reader
        self._usage: OrderedDict[uuid.UUID, TenantUsage] = OrderedDict()
        self._reading: dict[uuid.UUID, asyncio.Future[TenantUsage]] = {}
        self.reads = 0  # for tests and benchmarks

    async def usage(self, tenant_id: uuid.UUID, max_age_s: float = REFRESH_S) -> TenantUsage:
        """The tenant's usage, read again when older than ``max_age_s`` (concurrent callers share one read)."""
        known = self._usage.get(tenant_id)
        if known is not None:
            self._usage.move_to_end(tenant_id)
            if time.monotonic() - known.read_at <= max_age_s:
                return known
        reading = self._reading.get(tenant_id)
        if reading is None:
            reading = self._reading[tenant_id] = asyncio.get_running_loop().create_future()
            try:
                usage = await self._read(tenant_id)
            except Exception as exc:
                reading.set_exception(exc)
                reading.exception()  # marked retrieved: the callers sharing it raise it themselves
                raise
            except BaseException:
                reading.cancel()
                raise
            finally:
                del self._reading[tenant_id]
            reading.set_result(usage)
            return usage
        return await asyncio.shield(reading)

    def admitted(self, usage: TenantUsage, size: int) -> None:
        """A driver of this process is about to store ``size`` more bytes (negative: it freed some)."""
        usage.stored += size

    async def _read(self, tenant_id: uuid.UUID) -> TenantUsage:
        read_at = time.monotonic()
        async with self.reader.connect() as conn:
            stored, tenant_limit, run_limit = await limits.stored_usage(conn, tenant_id)
        self.reads += 1
        usage = self._usage.get(tenant_id)
        if usage is None:
            usage = self._usage[tenant_id] = TenantUsage(0, 0, 0, "", "", 0.0)
            if len(self._usage) > MAX_TENANTS:
                self._usage.popitem(last=False)
        # Updated in place: drivers hold this object while they run.
        usage.stored, usage.read_at = stored, read_at
        if tenant_limit is None:
            usage.tenant_limit = self.settings.max_tenant_output_bytes
            usage.tenant_limit_name = "STUDIO_MAX_TENANT_OUTPUT_BYTES"
        else:
            usage.tenant_limit, usage.tenant_limit_name = int(tenant_limit), "the tenant's max_output_bytes"
        if run_limit is None:
            usage.run_limit, usage.run_limit_name = self.settings.max_run_output_bytes, "STUDIO_MAX_RUN_OUTPUT_BYTES"
        else:
            usage.run_limit, usage.run_limit_name = int(run_limit), "the tenant's max_run_output_bytes"
        return usage


def size_text(size: int) -> str:
    """Bytes for a message: 512 B, 3.5 KiB, 64.0 MiB, 10.0 GiB."""
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{size} B" if size < 1024 else f"{value:.1f} {unit}"
    return f"{size} B"  # pragma: no cover - the loop returns
