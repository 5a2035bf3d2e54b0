"""Open websockets per principal (a user or an API key) and per tenant, capped in each API process.

Each connection holds memory for as long as it is open (its subscriptions, their bus listeners and buffers): one
VIEWER token with 400 connections of 50 subscriptions each took an API process from 283 to 697 MB. A connection
over either cap is closed right after ``connection_init`` with 4429 and a reason that names the cap. Counts live
in the process that holds the sockets (nothing to leak when a process dies), so with N API processes behind a
balancer a principal may hold up to N times the cap.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TypeVar

from studio_shared.auth import Principal

CLOSE_CODE = 4429
K = TypeVar("K")


class TooManyConnections(Exception):
    """A connection over a cap: closed with ``CLOSE_CODE`` and this message as the reason."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One admitted connection: what to give back when it closes."""

    counts: SocketCounts
    principal: str
    tenant_id: uuid.UUID

    def release(self) -> None:
        self.counts.release(self)


class SocketCounts:
    def __init__(self, per_principal: int, per_tenant: int) -> None:
        self.per_principal, self.per_tenant = per_principal, per_tenant
        self._principals: Counter[str] = Counter()
        self._tenants: Counter[uuid.UUID] = Counter()

    def admit(self, principal: Principal) -> Slot:
        """Count one more connection of ``principal``; TooManyConnections when it or its tenant is at its cap."""
        key = principal.actor
        if self._principals[key] >= self.per_principal:
            who = "user" if principal.user_id is not None else "API key"
            raise TooManyConnections(f"too many connections: at most {self.per_principal} per {who}; close one")
        if self._tenants[principal.tenant_id] >= self.per_tenant:
            raise TooManyConnections(f"too many connections: at most {self.per_tenant} per tenant; close one")
        self._principals[key] += 1
        self._tenants[principal.tenant_id] += 1
        return Slot(self, key, principal.tenant_id)

    def release(self, slot: Slot) -> None:
        _decrement(self._principals, slot.principal)
        _decrement(self._tenants, slot.tenant_id)

    def open(self, principal: Principal) -> int:
        """Connections ``principal`` holds now (for tests and metrics)."""
        return self._principals[principal.actor]


def _decrement(counter: Counter[K], key: K) -> None:
    if counter[key] <= 1:
        counter.pop(key, None)  # no entry for an idle principal or tenant
    else:
        counter[key] -= 1
