"""What a JSON Schema must satisfy before the studio accepts it: checked when a definition is saved (input_schema,
form_schema, tool parameters: every config property marked ``x-json-schema``) and again whenever a schema is
compiled, so a version stored before these rules is refused where it is used instead of doing harm.

- ``$ref`` and ``$dynamicRef`` stay inside the document (``#/$defs/…``, ``#anchor``): a remote reference made
  the API fetch any URL (``http://127.0.0.1:…``, ``file:///etc/passwd``) and quote it back, or wait on it.
- ``$schema`` only at the root, and only JSON Schema 2020-12; ``$id`` only at the root. jsonschema switches to
  its stock validator classes for a sub-schema that names a dialect, and those run patterns on Python's ``re``.
- Every ``pattern`` and ``patternProperties`` key compiles under RE2.
- At most ``MAX_SCHEMA_BYTES`` of JSON, nested at most ``MAX_SCHEMA_DEPTH`` levels.

The walk looks at every object in the document, data under ``enum``/``const``/``default`` included: a JSON
pointer can make any of them a schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from studio_shared.schemas.regex import regex_problem

MAX_SCHEMA_BYTES = 65_536
MAX_SCHEMA_DEPTH = 64
DIALECT = "https://json-schema.org/draft/2020-12/schema"
DIALECTS = frozenset({DIALECT, DIALECT + "#"})
UNSAFE_SCHEMA = "UNSAFE_SCHEMA"
INVALID_PATTERN = "INVALID_PATTERN"
# Problems added by these rules after versions were published: a stored version that breaks only these still
# loads (its runs keep going); the schema or pattern is refused where it would be used.
ADMISSION_CODES = frozenset({UNSAFE_SCHEMA, INVALID_PATTERN})

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason a schema is refused: where in the schema, what to do, and the problem code."""

    path: Path
    message: str
    code: str = UNSAFE_SCHEMA


def _objects(schema: Any) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every JSON object in ``schema`` with its path (iterative: a deep document cannot hit the recursion limit)."""
    stack: list[tuple[Path, Any]] = [((), schema)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            yield path, value
            stack.extend(((*path, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, str(i)), v) for i, v in reversed(list(enumerate(value))))


def _depth(schema: Any) -> int:
    deepest, stack = 0, [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_SCHEMA_DEPTH:
                return depth
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def size_refusals(schema: Any) -> list[Refusal]:
    """The caps: refused before anything else looks at the schema (a huge or deep one would cost that much)."""
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return [Refusal((), f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels; flatten it or use $defs")]
    try:
        size = len(json.dumps(schema, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return [Refusal((), "the schema is not plain JSON")]
    if size > MAX_SCHEMA_BYTES:
        return [Refusal((), f"the schema is {size:,} bytes of JSON; at most {MAX_SCHEMA_BYTES:,} are allowed")]
    return []


def _quote(text: str, limit: int = 60) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted if len(quoted) <= limit else quoted[: limit - 1] + "…"


def _pointer(root: Any, pointer: str) -> bool:
    """Whether the JSON pointer (after ``#``, percent-decoded by the caller) leads somewhere in ``root``."""
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False
    node = root
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _ref_refusal(path: Path, keyword: str, ref: str, root: Any, anchors: set[str]) -> Refusal | None:
    where = (*path, keyword)
    if not ref.startswith("#"):
        return Refusal(
            where,
            f"{keyword} {_quote(ref, 120)} points outside this schema; the studio fetches nothing: inline it,"
            " or put it under $defs and refer to it as #/$defs/<name>",
        )
    fragment = unquote(ref[1:])
    if fragment.startswith("/") or fragment == "":
        if not _pointer(root, fragment):
            return Refusal(where, f"{keyword} {_quote(ref, 120)} points at nothing in this schema")
    elif fragment not in anchors:
        return Refusal(where, f"{keyword} {_quote(ref, 120)} names no $anchor or $dynamicAnchor of this schema")
    return None


def refusals(schema: Any, *, limits: bool = True) -> list[Refusal]:
    """Every reason to refuse ``schema`` (checked as a user's schema); [] when it may be used.

    ``limits=False`` skips the size caps, for the studio's own schemas (the node registry's files).
    """
    if limits and (too_big := size_refusals(schema)):
        return too_big
    objects = list(_objects(schema))
    anchors = {
        value
        for _, obj in objects
        for keyword in ("$anchor", "$dynamicAnchor")
        if isinstance(value := obj.get(keyword), str)
    }
    found: list[Refusal] = []
    for path, obj in objects:
        for keyword in ("$ref", "$dynamicRef"):
            ref = obj.get(keyword)
            if isinstance(ref, str) and (refused := _ref_refusal(path, keyword, ref, schema, anchors)):
                found.append(refused)
        dialect = obj.get("$schema")
        if isinstance(dialect, str) and (path or dialect not in DIALECTS):
            where = "at the root, and only" if path else "only"
            found.append(
                Refusal((*path, "$schema"), f"$schema may name {where} JSON Schema 2020-12 ({DIALECT}); remove it")
            )
        if path and isinstance(obj.get("$id"), str):
            found.append(Refusal((*path, "$id"), "$id is allowed only at the root; use $defs for sub-schemas"))
        pattern = obj.get("pattern")
        if isinstance(pattern, str) and (problem := regex_problem(pattern)):
            found.append(Refusal((*path, "pattern"), f"{_quote(pattern)} is {problem}", INVALID_PATTERN))
        keys = obj.get("patternProperties")
        if isinstance(keys, dict):
            for key in keys:
                if problem := regex_problem(key):
                    message = f"the key {_quote(key)} is {problem}"
                    found.append(Refusal((*path, "patternProperties", key), message, INVALID_PATTERN))
    return found
