"""Tenant-scoped data access: every function takes the tenant, so another tenant's id reads as missing."""

from studio_shared.store import api_keys, artifacts, audit, credentials, messages, runs, tenants, usage, workflows
from studio_shared.store.pagination import Page

__all__ = [
    "Page",
    "api_keys",
    "artifacts",
    "audit",
    "credentials",
    "messages",
    "runs",
    "tenants",
    "usage",
    "workflows",
]
