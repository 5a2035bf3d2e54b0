"""Library internals are fenced (issue 18): what the studio uses of a library beyond its documented API lives in one
module per library, ``_<library>_internals.py``, which pins the exact versions it was verified against.

Two guards, so that an upgrade or a new shortcut cannot pass silently:

- every fence holds: the installed versions are the verified ones (and the ones ``pyproject.toml`` pins), every
  name it relies on is there, every behaviour it probes is unchanged; a failure names the fence and what to
  re-check;
- nothing outside a fence reaches into a library: a walk of the three packages' source (AST, not grep) finds
  underscore attributes of objects that are not the module's own, imports of private modules or names,
  ``getattr``/``hasattr`` with a private name, assignments to a library's attributes, and (by importing the
  modules) methods that override a library class's private method.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path

import pytest

from studio_gql import _graphql_core_internals, _strawberry_internals
from studio_shared.events import _redis_internals
from studio_shared.internals import Fence, Relied
from studio_shared.schemas import _jsonschema_internals
from studio_shared.templates import _jinja_internals
from studio_worker.queue import _arq_internals

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("studio_shared", "studio_worker", "studio_gql")
FENCES: dict[str, Fence] = {
    fence.module: fence
    for fence in (
        _arq_internals.FENCE,
        _strawberry_internals.FENCE,
        _graphql_core_internals.FENCE,
        _redis_internals.FENCE,
        _jinja_internals.FENCE,
        _jsonschema_internals.FENCE,
    )
}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def _is_fence(path: Path) -> bool:
    return re.fullmatch(r"_[a-z0-9_]+_internals\.py", path.name) is not None


@pytest.mark.parametrize("module", sorted(FENCES))
async def test_the_fence_holds(module: str) -> None:
    """(async: building arq's Worker takes the running event loop)"""
    problems = FENCES[module].problems()
    assert not problems, "\n".join(problems)


def test_every_fence_is_checked_here() -> None:
    found = {str(path.relative_to(REPO)) for path in _sources() if _is_fence(path)}
    assert found == set(FENCES), "list every _<library>_internals.py module in FENCES"
    for module, fence in FENCES.items():
        assert (REPO / module).is_file(), f"{module}: Fence.module must be the fence's own path"
        assert fence.verified and fence.relied, module


def test_the_versions_a_fence_verified_are_the_ones_pyproject_pins() -> None:
    """An upgrade is a deliberate edit of the pin, which then fails the fence until someone re-checks it."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins: dict[str, str] = {}
    for requirement in pyproject["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^,;\s]+)", requirement.strip())
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    for module, fence in FENCES.items():
        for distribution, version in fence.verified.items():
            assert pins.get(distribution) == version, f"pyproject.toml should pin {distribution}=={version} ({module})"


def test_a_fence_fails_loudly_naming_itself_what_changed_and_what_to_do() -> None:
    installed = importlib.metadata.version("arq")
    fence = Fence(
        module="studio_worker/queue/_arq_internals.py",
        verified={"arq": "0.0.1"},
        relied=(Relied("arq.worker.Worker", ("main", "_gone_in_this_version", "run_job(no_such_parameter)"), _worker),),
        probes=(lambda: "the record changed shape",),
    )
    version, gone, parameter, probe = fence.problems()
    assert version == (
        f"studio_worker/queue/_arq_internals.py was verified against arq 0.0.1; found {installed}: re-check "
        "arq.worker.Worker.main, arq.worker.Worker._gone_in_this_version, arq.worker.Worker.run_job(no_such_parameter) "
        "in the new version's source, then update VERIFIED there (and the README's 'Library internals we rely on')"
    )
    assert gone.startswith("studio_worker/queue/_arq_internals.py relies on arq.worker.Worker._gone_in_this_version")
    assert "run_job(no_such_parameter)" in parameter
    assert probe.startswith("studio_worker/queue/_arq_internals.py: the record changed shape")
    assert not dataclasses.replace(fence, verified={"arq": installed}, probes=(), relied=()).problems()


def _worker() -> type:
    from arq.worker import Worker

    return Worker


# ----------------------------------------------------------------------------------- nothing outside a fence


def _own_names(tree: ast.Module) -> set[str]:
    """Every name the module itself defines: functions, classes, variables, attributes it assigns, slots."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
        ):
            names |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return names


def _library_imports(tree: ast.Module) -> set[str]:
    """Local names bound to what the module imports from outside the studio."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names if not a.name.startswith("studio_")}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith(("studio_", "__future__")):
            bound |= {a.asname or a.name for a in node.names}
    return bound


# Underscore names that are documented public API: SQLAlchemy's Row and Python's named tuples prefix theirs with an
# underscore so that they cannot collide with a column or field name; os._exit ends a process at once (the code
# node's sandboxed runner, past threads the user's code left running).
DOCUMENTED_UNDERSCORE_NAMES = frozenset(
    {"_mapping", "_asdict", "_fields", "_tuple", "_t", "_replace", "_make", "_exit"}
)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in DOCUMENTED_UNDERSCORE_NAMES


def private_uses(source: str, where: str) -> list[str]:
    """Every place in ``source`` (the module at ``where``) that uses a library's private name, as "path:line: what"."""
    tree = ast.parse(source)
    own = _own_names(tree)
    imported = _library_imports(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith(("studio_", "__future__")):
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{line}: imports from the private module {node.module}")
            found += [f"{line}: imports {a.name}, private to {node.module}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("studio_") and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"{line}: imports the private module {alias.name}")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            found.append(f"{line}: uses {ast.unparse(node)}, which this module does not define")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
            and len(node.args) >= 2
        ):
            name = node.args[1]
            if (
                isinstance(name, ast.Constant)
                and isinstance(name.value, str)
                and _private(name.value)
                and name.value not in own
            ):
                found.append(f"{line}: {node.func.id}(…, {name.value!r}), which this module does not define")
            target = node.args[0]
            if node.func.id in {"setattr", "delattr"} and isinstance(target, ast.Name) and target.id in imported:
                found.append(f"{line}: {node.func.id} on {target.id}, which is a library's (monkeypatching)")
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute):
                    root = target.value
                    while isinstance(root, ast.Attribute):
                        root = root.value
                    if isinstance(root, ast.Name) and root.id in imported:
                        found.append(f"{line}: assigns {ast.unparse(target)}, a library's (monkeypatching)")
    return found


def private_overrides(module_name: str, source: str) -> list[str]:
    """Private methods and attributes that the module's classes define (in their source) and a library base class
    of theirs defines too: overrides of a library's internals."""
    module = importlib.import_module(module_name)
    found: list[str] = []
    for node in ast.parse(source).body:
        cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not inspect.isclass(cls):
            continue
        defined = {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        defined |= {t.id for n in node.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        library_bases = [b for b in cls.__mro__[1:] if b is not object and not b.__module__.startswith("studio_")]
        for name in sorted(n for n in defined if _private(n)):
            base = next((b for b in library_bases if name in vars(b)), None)
            if base is not None:
                found.append(f"{module_name}.{cls.__name__}.{name} overrides {base.__module__}.{base.__name__}.{name}")
    return found


def test_nothing_outside_a_fence_uses_a_library_internal() -> None:
    found: list[str] = []
    for path in _sources():
        if _is_fence(path):
            continue
        where = str(path.relative_to(REPO))
        found += private_uses(path.read_text(), where)
        module_name = where.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        found += private_overrides(module_name, path.read_text())
    assert not found, "move these into the library's _<library>_internals.py fence:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(schema):\n    return schema._schema\n", "uses schema._schema, which this module does not define"),
        ("from arq.worker import _private\n", "imports _private, private to arq.worker"),
        ("from jinja2._identifier import pattern\n", "imports from the private module jinja2._identifier"),
        ("def f(ctx):\n    return getattr(ctx, '_provided_operation_name', '')\n", "getattr(…, '_provided"),
        ("import arq.worker\narq.worker.log_redis_info = print\n", "assigns arq.worker.log_redis_info, a library's"),
        ("class W:\n    def f(self):\n        return self.x._queue_read_offset\n", "uses self.x._queue_read_offset"),
    ],
)
def test_the_walk_finds_each_kind_of_private_use(source: str, expected: str) -> None:
    [found] = private_uses(source, "x.py")
    assert expected in found


def test_the_walk_leaves_a_module_s_own_private_names_alone() -> None:
    source = "class A:\n    def __init__(self):\n        self._cache = {}\n    def f(self, other):\n        return other._cache\n"
    assert private_uses(source, "x.py") == []


def test_an_override_of_a_library_s_private_method_is_found() -> None:
    fence = REPO / "studio_worker" / "queue" / "_arq_internals.py"
    assert private_overrides("studio_worker.queue._arq_internals", fence.read_text()) == [
        "studio_worker.queue._arq_internals.ClaimingWorker._poll_iteration overrides arq.worker.Worker._poll_iteration"
    ]
