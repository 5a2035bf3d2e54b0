"""From a template's source to something that can render: lexed and parsed by Jinja, checked against the
allow-lists (no statements, no comments, expression nodes only, no private attributes or special names), then
compiled as text or, when the source is exactly one ``{{ … }}``, as an expression whose native value is kept."""

from __future__ import annotations

import math
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.environment import Template

from studio_shared.templates.allowlists import EXPRESSION_NODES, RESERVED_NAMES
from studio_shared.templates.environment import SandboxEnvironment
from studio_shared.templates.errors import TemplateError, describe

NATIVE_RESULT = "result"  # the variable a native template assigns its value to

_STATEMENTS = "— use `a if condition else b`, filters like | join, | map, | select, or .get(...)"


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled template: native (one expression, value returned as is) or text."""

    template: Template
    native: bool


@dataclass(frozen=True, slots=True)
class Failure:
    """A template that does not compile, with the reason (cached like successes)."""

    message: str


def compile_source(env: SandboxEnvironment, source: str) -> Compiled | Failure:
    """Compile ``source`` in ``env``; every problem becomes a ``Failure`` with a message, and nothing is executed."""
    try:
        for _, token, _ in env.lex(source):
            message = lexical_refusal(token)
            if message is not None:
                raise TemplateError(message)
        tree = env.parse(source)
        _validate(tree)
        expression = _single_expression(tree)
        if expression is None:
            return Compiled(env.from_string(tree), native=False)
        body: list[nodes.Node] = [nodes.Assign(nodes.Name(NATIVE_RESULT, "store"), expression, lineno=1)]
        return Compiled(env.from_string(nodes.Template(body, lineno=1)), native=True)
    except Exception as exc:  # every compile problem becomes a message; nothing was executed
        return Failure(describe(exc))


def _validate(template: nodes.Template) -> None:
    """Allow only output, literal text and expression nodes; refuse dunder attributes and Jinja's special names."""
    stack: list[nodes.Node] = [template]
    while stack:
        node = stack.pop()
        message = refusal(node)
        if message is not None:
            raise TemplateError(message)
        stack.extend(node.iter_child_nodes())


def refusal(node: nodes.Node) -> str | None:
    """Why the sandbox refuses this one node of a parsed template, or None when it may stay."""
    kind = type(node)
    if kind is nodes.Template or kind is nodes.Output or kind is nodes.TemplateData:
        return None
    if kind not in EXPRESSION_NODES:
        return (
            f"{kind.__name__.lower()} statements are not allowed: a template is text with {{{{ expression }}}} "
            f"parts only {_STATEMENTS}"
        )
    if isinstance(node, nodes.Name) and (node.ctx != "load" or node.name in RESERVED_NAMES):
        return f"the name {node.name!r} is not available; use input, steps or run"
    if isinstance(node, nodes.Tuple) and node.ctx != "load":
        return "assignments are not allowed in templates"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("__"):
        return f"attribute {node.attr!r} is not accessible (names starting with '__' are private)"
    if isinstance(node, nodes.Const) and isinstance(node.value, float) and not math.isfinite(node.value):
        return "a number in the template is too large: JSON numbers stop at about 1.8e308"
    return None


def lexical_refusal(token: str) -> str | None:
    """Why the sandbox refuses a template containing this lexer token (statements, comments), or None."""
    if token in ("block_begin", "raw_begin", "linestatement_begin"):
        return (
            f"statements ({{% … %}}) are not allowed: a template is text with {{{{ expression }}}} parts only "
            f"{_STATEMENTS}"
        )
    if token in ("comment_begin", "linecomment_begin"):
        return "comments ({# … #}) are not allowed in templates; remove them"
    return None


def _single_expression(template: nodes.Template) -> nodes.Expr | None:
    """The expression when the template is exactly one {{ … }} (whitespace around it allowed), else None."""
    found: list[nodes.Expr] = []
    for output in template.body:
        if not isinstance(output, nodes.Output):
            return None
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                if child.data.strip():
                    return None
            else:
                found.append(child)
    return found[0] if len(found) == 1 else None
