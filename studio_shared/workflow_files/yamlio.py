"""Reading and writing workflow files as YAML: a safe, strict reader (no aliases, no duplicate keys, JSON values
only, a size cap before parsing) and a deterministic writer (block style, multi-line strings as ``|`` blocks)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from studio_shared.errors import Problem

MAX_FILE_BYTES = 2 * 1024 * 1024  # a definition over GraphQL is at most 1 MiB of JSON; YAML is a little wordier
MAX_DEPTH = 64

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Refused(Exception):
    def __init__(self, message: str, mark: Any = None) -> None:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        super().__init__(message + where)


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases or anchors (no alias bomb can expand), duplicate keys or YAML timestamps (a date
    stays the string it is, as in JSON)."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                "YAML anchors and aliases (&name, *name) are not accepted in workflow files", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _Refused(f"mapping keys must be strings, not {key!r}", key_node.start_mark)
            if key in seen:
                raise _Refused(f"the key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _json_problem(value: Any, path: tuple[str, ...], depth: int = 0) -> Problem | None:
    """The first value that JSON cannot hold (binary, sets, NaN…) or nesting past MAX_DEPTH; None when all is JSON."""
    if depth > MAX_DEPTH:
        return Problem(path, f"nested more than {MAX_DEPTH} levels deep", "TOO_DEEP")
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else Problem(path, "NaN and infinite numbers are not JSON", "INVALID_TYPE")
    if isinstance(value, dict):
        for key, item in value.items():
            if (found := _json_problem(item, (*path, key), depth + 1)) is not None:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _json_problem(item, (*path, str(i)), depth + 1)) is not None:
                return found
        return None
    return Problem(path, f"a value of YAML type {type(value).__name__} has no JSON equivalent", "INVALID_TYPE")


def read_capped(path: Path) -> bytes:
    """At most one byte past MAX_FILE_BYTES of the file: enough for ``load`` to refuse a large one unread."""
    with path.open("rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def load(data: bytes) -> tuple[Any, list[Problem]]:
    """The document in ``data`` and [] , or (None, [the reason it is refused]); never raises on bad input."""
    if len(data) > MAX_FILE_BYTES:
        message = f"the file is larger than the limit of {MAX_FILE_BYTES:,} bytes; it was not parsed"
        return None, [Problem((), message, "TOO_LARGE")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem((), f"not UTF-8 text: {exc}", "INVALID_ENCODING")]
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a stricter SafeLoader
    except _Refused as exc:
        return None, [Problem((), str(exc), "YAML_REFUSED")]
    except yaml.YAMLError as exc:
        return None, [Problem((), f"not valid YAML: {exc}".replace("\n", " "), "INVALID_YAML")]
    except RecursionError:
        return None, [Problem((), "the YAML is nested too deeply", "TOO_DEEP")]
    if (problem := _json_problem(doc, ())) is not None:
        return None, [problem]
    return doc, []


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice is written twice: files never hold anchors


class Inline(dict[str, object]):
    """A small mapping written on one line (``{x: 0, y: 0}``): layout positions, so each node's is one line."""


def _represent_inline(dumper: yaml.SafeDumper, data: Inline) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Inline, _represent_inline)


def dump(doc: Any, header: str = "") -> str:
    """``doc`` as block-style YAML in the key order it has, after the ``header`` comment lines."""
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return header + body
