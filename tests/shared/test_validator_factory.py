"""The class guard of issue 17: every JSON Schema validator comes from ``studio_shared.schemas.validators`` and no
user-supplied regular expression reaches Python's backtracking ``re``.

The walk reads the source of the three packages (AST, not grep: comments and strings do not count) and names
the file and line of every place that builds a jsonschema validator, imports jsonschema or ``referencing``
outside the factory, or hands ``re`` a pattern that is not a literal of the source. A new validator that
bypasses the factory, or a new ``re.search(user_pattern, …)``, fails here; the fix is to use
``user_schema``/``CompiledSchema`` or ``studio_shared.schemas.regex.compile_regex``.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("studio_shared", "studio_worker", "studio_gql")
FACTORY = "studio_shared/schemas/validators.py"
# Modules that may import these libraries, and why.
MAY_IMPORT = {
    "jsonschema": {FACTORY, "studio_shared/schemas/messages.py"},  # messages: ValidationError and best_match only
    "referencing": {FACTORY},
    "re2": {"studio_shared/schemas/regex.py"},  # one set of RE2 options (memory cap, no stderr logging)
}
NEVER_IMPORTED = {"regex": "the `regex` package backtracks", "fnmatch": "fnmatch turns globs into `re` patterns"}
BUILDERS = {"extend", "create", "validator_for", "validate"}  # jsonschema.validators.* and jsonschema.validate
RE_FUNCTIONS = {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


def _constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to a str or int literal (``_SHOWN = 60``): trusted inside literal patterns."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _literal(node: ast.expr, constants: set[str]) -> bool:
    """A pattern written in the source: a string literal, an f-string or sum over literals and module constants."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes | int)
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.JoinedStr):
        return all(_literal(v, constants) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return _literal(node.value, constants)
    if isinstance(node, ast.BinOp):
        return _literal(node.left, constants) and _literal(node.right, constants)
    return False


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def violations(source: str, where: str) -> list[str]:
    """Every place in ``source`` (a module at path ``where``) that bypasses the factory or the RE2 engine."""
    tree = ast.parse(source)
    constants = _constants(tree)
    found: list[str] = []
    re_aliases = {"re"}
    from_re: set[str] = set()
    for node in ast.walk(tree):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                root = module.split(".")[0]
                if root in MAY_IMPORT and where not in MAY_IMPORT[root]:
                    found.append(f"{line}: imports {module}; build validators and regexes through the factory")
                if root in NEVER_IMPORTED:
                    found.append(f"{line}: imports {module}: {NEVER_IMPORTED[root]}")
            if isinstance(node, ast.Import):
                re_aliases |= {a.asname for a in node.names if a.name == "re" and a.asname}
            elif node.module == "re":
                from_re |= {a.asname or a.name for a in node.names if a.name in RE_FUNCTIONS}
        if not isinstance(node, ast.Call):
            continue
        callee = node.func
        name = _name(callee)
        if where != FACTORY:
            if name.startswith("Draft") and name.endswith("Validator"):
                found.append(f"{line}: constructs {name}; use user_schema or CompiledSchema")
            if name in {"UserValidator", "ConfigValidator"}:
                found.append(f"{line}: constructs {name} outside CompiledSchema")
            if (
                name in BUILDERS
                and isinstance(callee, ast.Attribute)
                and _name(callee.value)
                in {
                    "validators",
                    "jsonschema",
                }
            ):
                found.append(f"{line}: {_name(callee.value)}.{name}(); use the factory")
        is_re = (
            isinstance(callee, ast.Attribute)
            and isinstance(callee.value, ast.Name)
            and callee.value.id in re_aliases
            and callee.attr in RE_FUNCTIONS
        ) or (isinstance(callee, ast.Name) and callee.id in from_re)
        if is_re:
            pattern = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "pattern"), None)
            if pattern is None or not _literal(pattern, constants):
                found.append(f"{line}: re.{name}() with a pattern that is not a literal; use compile_regex (RE2)")
    return found


def test_every_validator_comes_from_the_factory_and_no_user_pattern_reaches_re() -> None:
    found: list[str] = []
    checked = 0
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            where = path.relative_to(REPO).as_posix()
            found += violations(path.read_text(encoding="utf-8"), where)
            checked += 1
    assert checked > 50, "the walk found the packages"
    assert not found, "bypasses of the validator factory or the RE2 engine:\n" + "\n".join(found)


def test_the_walk_names_each_kind_of_bypass() -> None:
    """The guard can fail: each way around the factory that it must catch, caught with its line."""
    bypasses = {
        "from jsonschema import Draft202012Validator\nDraft202012Validator(schema).iter_errors(x)\n": [1, 2],
        "import jsonschema\njsonschema.Draft7Validator(schema)\n": [1, 2],
        "import jsonschema\njsonschema.validate(x, schema)\n": [1, 2],
        "from jsonschema import validators\nV = validators.extend(Base, {})\n": [1, 2],
        "from studio_shared.schemas.validators import UserValidator\nUserValidator(s)\n": [2],
        "import re\nre.search(config['pattern'], text)\n": [2],
        "import re as r\nr.compile(user)\n": [2],
        "from re import fullmatch\nfullmatch(p, s)\n": [2],
        "import re\nre.compile(f'{user}+')\n": [2],
        "import referencing\n": [1],
        "import regex\n": [1],
        "import fnmatch\n": [1],
        "import re2\n": [1],
    }
    for source, lines in bypasses.items():
        found = violations(source, "studio_worker/example.py")
        assert [int(v.split(":")[1]) for v in found] == lines, (source, found)
    trusted = (
        "import re\nN = 60\nA = re.compile(r'^[a-z]+$')\nB = re.compile(rf'\\S{{{N + 20},}}')\n"
        "re.sub(r'(?<=x)y', '*', text)\nDraft202012Validator.check_schema(s)\n"
    )
    assert violations(trusted, "studio_worker/example.py") == []
    assert violations("from jsonschema import Draft202012Validator\nDraft202012Validator(s)\n", FACTORY) == []
