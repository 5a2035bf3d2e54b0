"""The run tables (runs, steps, run_events) have one home in the worker: ``studio_worker.engine.records``; a step's
model calls (llm_calls) are the nodes' data access, ``studio_shared.store.llm_calls`` (nodes never import the engine).

A static check (an AST walk, nothing runs): no other ``studio_worker`` module builds a statement on those tables (a
SQLAlchemy select, insert, update or delete naming their models or tables, a session ``get`` of their models, or
text SQL naming them), and ``studio_gql`` reads runs through ``studio_shared.store`` only. ORM attribute writes on
rows the home loaded are not visible to this check; the home's functions do those too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOME = "studio_worker/engine/records"
MODELS = frozenset({"Run", "Step", "RunEvent", "LlmCall"})
TABLES = frozenset({"runs", "steps", "run_events", "llm_calls"})
HOME_TABLES = frozenset({"runs", "steps", "events"})  # the home's table objects (its modules have other names)
STATEMENTS = frozenset({"select", "insert", "update", "delete", "exists", "get", "get_one"})
TEXT_SQL = re.compile(r"\b(from|into|update|join|table)\s+\"?(" + "|".join(sorted(TABLES)) + r")\b", re.IGNORECASE)


def _model(node: ast.AST) -> bool:
    """``models.Run`` (``Run`` imported from the models), or an attribute of it (``models.Run.status``)."""
    while isinstance(node, ast.Attribute):
        if node.attr in MODELS and isinstance(node.value, ast.Name) and node.value.id == "models":
            return True
        node = node.value
    return False


def _callee(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def run_table_sql(source: str) -> list[str]:
    """Where a module's code builds SQL on the run tables: ``line: what``."""
    found: list[str] = []
    tree = ast.parse(source)
    imported: set[str] = set()  # model classes or tables imported by name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            for alias in node.names:
                if (node.module.endswith("db.models") and alias.name in MODELS) or (
                    node.module == "studio_worker.engine.records" and alias.name in HOME_TABLES
                ):
                    imported.add(alias.asname or alias.name)
                    found.append(f"{node.lineno}: imports {alias.name} from {node.module}")

    def names_run_table(expr: ast.AST) -> bool:
        return any(_model(sub) or (isinstance(sub, ast.Name) and sub.id in imported) for sub in ast.walk(expr))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "__table__" and names_run_table(node.value):
            found.append(f"{node.lineno}: the table of {ast.unparse(node.value)}")
        elif isinstance(node, ast.Call) and _callee(node) in STATEMENTS:
            if any(names_run_table(arg) for arg in [*node.args, *(k.value for k in node.keywords)]):
                found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and TEXT_SQL.search(node.value):
            found.append(f"{node.lineno}: text SQL {node.value[:60]!r}")
    return found


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py"))


def _offenders(package: str, home: str | None) -> dict[str, list[str]]:
    offenders = {}
    for path in _modules(package):
        relative = path.relative_to(ROOT).as_posix()
        if home is not None and (relative == f"{home}.py" or relative.startswith(f"{home}/")):
            continue
        found = run_table_sql(path.read_text())
        if found:
            offenders[relative] = found
    return offenders


def test_only_the_home_executes_sql_on_the_run_tables() -> None:
    assert _offenders("studio_worker", HOME) == {}


def test_the_api_reads_runs_through_the_store() -> None:
    assert _offenders("studio_gql", None) == {}


def test_the_home_is_where_the_sql_is() -> None:
    """The check finds the statements it is meant to find (it would pass vacuously otherwise)."""
    home = [p for p in _modules(HOME) if run_table_sql(p.read_text())]
    assert len(home) >= 3
    assert run_table_sql((ROOT / "studio_shared/store/runs.py").read_text())
    assert run_table_sql((ROOT / "studio_shared/store/llm_calls.py").read_text())


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy as sa\nfrom studio_shared.db import models\nq = sa.select(models.Run.id)\n",
        "from studio_shared.db import models\nrows = models.Step.__table__\n",
        "from studio_shared.db import models\nasync def f(s):\n    return await s.get(models.RunEvent, 1)\n",
        "from studio_shared.db.models import Run\nimport sqlalchemy as sa\nq = sa.update(Run)\n",
        "from studio_worker.engine.records import runs\nq = runs.select()\n",
        "import sqlalchemy as sa\nq = sa.text('SELECT id FROM run_events WHERE seq > 1')\n",
        "import sqlalchemy as sa\nq = sa.text('update runs set signal = signal + 1')\n",
        "from studio_shared.db import models\nq = models.LlmCall.__table__.delete()\n",
    ],
)
def test_the_check_sees_every_form(source: str) -> None:
    assert run_table_sql(source)


@pytest.mark.parametrize(
    "source",
    [
        "from studio_shared.db import models\ndef f(run: models.Run) -> models.Step: ...\n",
        "from studio_shared.store import runs\nasync def f(s, t, i):\n    return await runs.get(s, t, i)\n",
        "message = 'the runs of this workflow'\n",
        "import sqlalchemy as sa\nfrom studio_shared.db import models\nq = sa.select(models.Workflow.id)\n",
    ],
)
def test_the_check_leaves_other_code_alone(source: str) -> None:
    assert run_table_sql(source) == []
