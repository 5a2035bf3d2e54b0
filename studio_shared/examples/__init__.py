"""The example workflows, one JSON file each: `studio demo` creates them; tests and benchmarks read them too.

Each file is ``{"name": ..., "description": ..., "definition": ...}``. The frontend's tests import the same files, so
the example exists once.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, TypedDict

APPROVE_LARGE_ORDERS = "approve_large_orders"
HELLO_TRANSFORM = "hello_transform"
SUMMARIZE_ORDERS = "summarize_orders"


class Example(TypedDict):
    """One example workflow: what `createWorkflow` takes."""

    name: str
    description: str
    definition: dict[str, Any]


def example(slug: str) -> Example:
    """The example stored as ``<slug>.json``, freshly parsed (callers may change it)."""
    text = resources.files(__name__).joinpath(f"{slug}.json").read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or set(data) != set(Example.__annotations__):
        raise ValueError(f"{slug}.json must hold exactly {sorted(Example.__annotations__)}")
    return Example(name=data["name"], description=data["description"], definition=data["definition"])


def examples() -> list[Example]:
    """Every example, in the order of their file names."""
    names = sorted(item.name for item in resources.files(__name__).iterdir() if item.name.endswith(".json"))
    return [example(name.removesuffix(".json")) for name in names]


__all__ = ["APPROVE_LARGE_ORDERS", "HELLO_TRANSFORM", "SUMMARIZE_ORDERS", "Example", "example", "examples"]
