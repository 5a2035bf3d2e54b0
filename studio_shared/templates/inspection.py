"""Checking one template without rendering it: a single positioned parse, then what the sandbox would refuse
(statements, comments, private attributes, special names), unknown filters, tests and names, and the static
references it reads (``steps.a.output.x``, ``input['y']``), each with its character offset in the source.

Nothing is compiled or evaluated. Offsets are 0-based positions in the template text as written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from studio_shared.templates._jinja_internals import Position, lex_positioned, parse_positioned
from studio_shared.templates.environment import SandboxEnvironment
from studio_shared.templates.errors import shorten
from studio_shared.templates.source import lexical_refusal, refusal

SCOPE_NAMES = frozenset({"input", "steps", "run"})
GLOBAL_NAMES = frozenset({"range"})
GUARD_FILTERS = frozenset({"default", "d"})
GUARD_TESTS = frozenset({"defined", "undefined", "none"})
_NEWLINE = re.compile(r"\r\n|\r|\n")
_JINJA_AT = re.compile(r" at \d+$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a template: where (offset in the source), what, and its stable code."""

    offset: int
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class Segment:
    """One static step of a reference: a key (attribute or constant subscript) or a list index."""

    key: str | int
    offset: int


@dataclass(frozen=True, slots=True)
class Reference:
    """A name and the static keys read from it, e.g. ``steps`` then ``a``, ``output``, ``x``.

    The chain stops before a dynamic subscript (``steps[name]``) and before a method that is called
    (``input.get('x')``): what follows is not guessed at. ``guarded``: the value is the subject of ``| default``
    or an ``is defined`` test, so its absence is expected.
    """

    name: str
    offset: int
    segments: tuple[Segment, ...]
    guarded: bool


@dataclass(frozen=True, slots=True)
class Inspection:
    findings: tuple[Finding, ...]
    references: tuple[Reference, ...]


def _offset(node: nodes.Node) -> int:
    lineno = node.lineno
    return lineno.offset if isinstance(lineno, Position) else 0


def _syntax(exc: TemplateSyntaxError) -> Finding:
    """A syntax error at its offset (Jinja's own " at N" is dropped: the offset says it)."""
    message = _JINJA_AT.sub("", exc.message or "invalid template")
    return Finding(getattr(exc, "offset", 0), f"syntax error: {shorten(message)}", "TEMPLATE_SYNTAX")


def _suggest(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _normalised(source: str) -> tuple[str, list[int] | None]:
    """The source with Jinja's newline normalisation, and a map back to offsets in the original (None: same)."""
    if "\r" not in source:
        return source, None
    text: list[str] = []
    back: list[int] = []
    last = 0
    for match in _NEWLINE.finditer(source):
        text.append(source[last : match.start()])
        back.extend(range(last, match.start()))
        text.append("\n")
        back.append(match.start())
        last = match.end()
    text.append(source[last:])
    back.extend(range(last, len(source) + 1))
    return "".join(text), back


def inspect_template(env: SandboxEnvironment, source: str, extra_names: Collection[str] = ()) -> Inspection:
    """Parse ``source`` once and report its problems and references (see the module docstring)."""
    text, back = _normalised(source)
    found = _inspect(env, text, SCOPE_NAMES | GLOBAL_NAMES | frozenset(extra_names))
    if back is None:
        return found

    def where(offset: int) -> int:
        return back[min(offset, len(back) - 1)]

    return Inspection(
        tuple(Finding(where(f.offset), f.message, f.code) for f in found.findings),
        tuple(
            Reference(r.name, where(r.offset), tuple(Segment(s.key, where(s.offset)) for s in r.segments), r.guarded)
            for r in found.references
        ),
    )


def _inspect(env: SandboxEnvironment, source: str, names: frozenset[str]) -> Inspection:
    try:
        tokens = lex_positioned(env, source)
    except TemplateSyntaxError as exc:
        return Inspection((_syntax(exc),), ())
    for position, token, _ in tokens:
        message = lexical_refusal(token)
        if message is not None:
            return Inspection((Finding(getattr(position, "offset", 0), message, "TEMPLATE_REFUSED"),), ())
    try:
        tree = parse_positioned(env, source, tokens)
    except TemplateSyntaxError as exc:
        return Inspection((_syntax(exc),), ())
    findings: list[Finding] = []
    references: list[Reference] = []
    parents: dict[int, nodes.Node] = {}
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        message = refusal(node)
        if message is not None:
            findings.append(Finding(_offset(node), message, "TEMPLATE_REFUSED"))
            continue  # its children are not checked: the node itself must go
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            findings.append(
                Finding(
                    _offset(node), f"unknown filter {node.name!r}{_suggest(node.name, env.filters)}", "UNKNOWN_FILTER"
                )
            )
        elif isinstance(node, nodes.Test) and node.name not in env.tests:
            at = source.find(node.name, _offset(node))
            findings.append(
                Finding(
                    at if at >= 0 else _offset(node),
                    f"unknown test {node.name!r}{_suggest(node.name, env.tests)}",
                    "UNKNOWN_TEST",
                )
            )
        elif isinstance(node, nodes.Name):
            if node.name not in names:
                findings.append(
                    Finding(
                        _offset(node),
                        f"unknown name {node.name!r}{_suggest(node.name, names)} — templates can read "
                        f"{', '.join(sorted(names - GLOBAL_NAMES, key=_name_order))}",
                        "UNKNOWN_NAME",
                    )
                )
            elif node.name not in GLOBAL_NAMES:
                references.append(_reference(node, parents, source))
        for child in node.iter_child_nodes():
            parents[id(child)] = node
            stack.append(child)
    findings.sort(key=lambda f: f.offset)
    references.sort(key=lambda r: r.offset)
    return Inspection(tuple(findings), tuple(references))


def _name_order(name: str) -> tuple[int, str]:
    return (("input", "steps", "run").index(name) if name in SCOPE_NAMES else 3, name)


def _reference(name: nodes.Name, parents: dict[int, nodes.Node], source: str) -> Reference:
    """Climb from a name through the attributes and constant subscripts applied to it."""
    segments: list[Segment] = []
    current: nodes.Node = name
    while True:
        parent = parents.get(id(current))
        if isinstance(parent, nodes.Getattr) and parent.node is current:
            at = source.find(parent.attr, _offset(parent))
            segments.append(Segment(parent.attr, at if at >= 0 else _offset(parent)))
        elif (
            isinstance(parent, nodes.Getitem)
            and parent.node is current
            and isinstance(parent.arg, nodes.Const)
            and isinstance(parent.arg.value, str | int)
            and not isinstance(parent.arg.value, bool)
        ):
            segments.append(Segment(parent.arg.value, _offset(parent.arg)))
        else:
            break
        current = parent
    parent = parents.get(id(current))
    if isinstance(parent, nodes.Call) and parent.node is current and segments:
        segments.pop()  # a method called on the value: what it returns is not guessed at
    guarded = (isinstance(parent, nodes.Filter) and parent.node is current and parent.name in GUARD_FILTERS) or (
        isinstance(parent, nodes.Test) and parent.node is current and parent.name in GUARD_TESTS
    )
    return Reference(name.name, _offset(name), tuple(segments), guarded)
