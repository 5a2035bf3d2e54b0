"""The import graph, read from the source (every import, lazy and TYPE_CHECKING ones included).

``studio_shared`` <- ``studio_worker`` <- ``studio_gql``, nothing pointing back; ``studio_gql`` uses the worker
through ``studio_worker.host`` and ``studio_worker.control`` only; the node handlers ask the engine for child
runs through the ``studio_worker.nodes.children.ChildRuns`` protocol, never by importing the engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` and the absolute names it imports (``from a import b`` counts as ``a.b``)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        module = _module_name(path)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against this module's package
                    package_parts = module.split(".")[: -node.level if path.name != "__init__.py" else None]
                    if path.name == "__init__.py" and node.level > 1:
                        package_parts = package_parts[: -(node.level - 1)]
                    base = ".".join([*package_parts, base] if base else package_parts)
                names.update(f"{base}.{alias.name}" for alias in node.names)
        found[module] = names
    assert found, f"no modules found under {package}"
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def offenders(package: str, forbidden: str, allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports(package).items()
        for name in names
        if _within(name, forbidden) and not any(_within(name, ok) for ok in allowed)
    )


def test_studio_gql_uses_the_worker_through_its_host_surface_and_control_only() -> None:
    assert offenders("studio_gql", "studio_worker", allowed=("studio_worker.host", "studio_worker.control")) == []


def test_node_handlers_do_not_import_the_engine() -> None:
    assert offenders("studio_worker/nodes", "studio_worker.engine") == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("studio_shared", "studio_worker"), ("studio_shared", "studio_gql"), ("studio_worker", "studio_gql")],
)
def test_no_import_points_back_up_the_layers(package: str, forbidden: str) -> None:
    assert offenders(package, forbidden) == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader is not blind: lazy, TYPE_CHECKING, ``import a.b`` and relative imports all count."""
    pkg = tmp_path / "pkg" / "nodes"
    pkg.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from ..engine import runtime\n")
    (pkg / "flow.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.engine.children import Children\n"
        "def f():\n    import pkg.engine.records\n"
        "from . import base\n"
    )
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    assert offenders("pkg/nodes", "pkg.engine") == [
        "pkg.nodes imports pkg.engine.runtime",
        "pkg.nodes.flow imports pkg.engine.children.Children",
        "pkg.nodes.flow imports pkg.engine.records",
    ]
    assert offenders("pkg/nodes", "pkg.nodes") == ["pkg.nodes.flow imports pkg.nodes.base"]


def test_the_python_client_imports_none_of_the_server() -> None:
    """studio_client installs on its own: the standard library and its declared dependencies only (httpx, websockets,
    pydantic), its generated code included."""
    import sys

    allowed = {"studio_client", "httpx", "websockets", "pydantic", "pydantic_core", *sys.stdlib_module_names}
    found = sorted(
        f"{module} imports {name}"
        for module, names in imports("clients/python/studio_client").items()
        for name in names
        if name.split(".")[0] not in allowed and not name.startswith("clients.python.studio_client")
    )
    assert found == [], found
