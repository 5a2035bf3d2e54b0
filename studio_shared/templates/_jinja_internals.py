"""Jinja2 internals the template sandbox relies on, fenced in one module (README: "Library internals we rely on").

Jinja's documented sandbox API (``is_safe_attribute``, ``is_safe_callable``, ``call``, ``getattr``, ``call_binop``
with ``intercepted_binops``) never sees some of what the sandbox must bound, so this module reaches past it:

- List, tuple and dict literals, ``~``, comparisons and slices compile to plain Python that no sandbox hook sees.
  ``GuardedCodeGenerator`` (Jinja's documented ``Environment.code_generator_class``, but its ``visit_*``,
  ``write``, ``visit`` and ``fail`` are undocumented) routes them through the environment's ``studio_*`` methods.
- ``str.format`` is sandboxed by the undocumented ``SandboxedEnvironment.wrap_str_format`` with
  ``SandboxedFormatter``; ``GuardedSandbox.wrap_str_format`` is Jinja's, with formatters that ask a ``FormatGuard``.
- ``raise_undefined``: ``Undefined._fail_with_undefined_error`` raises the error a ``StrictUndefined`` carries,
  which names the missing key or attribute.
- ``lex_positioned`` and ``parse_positioned``: Jinja's nodes carry a line number only; the template checker
  (``inspection``) needs the character offset of every name, attribute, filter and test. It parses from
  ``Lexer.tokeniter`` (the raw tokens, whitespace included, whose values add up to the source) through
  ``Lexer.wrap`` into a ``Parser`` whose ``stream`` is replaced, with each token's line number an ``int``
  subclass that also carries its offset; Jinja copies the token's line number into the node it builds, so the
  offset reaches the node unchanged.
- ``attrgetter`` (``jinja2.filters.make_attrgetter``: ``attribute=`` of ``join`` and ``sum``),
  ``passes_first_argument`` (``jinja_pass_arg``, set by ``pass_context`` and friends) and ``render_parts``
  (``Template.root_render_func``: rendering into a context we keep, to read a native result from it).

Nothing else in the studio touches these; ``FENCE`` names them for ``tests/test_library_internals.py``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, Protocol

import jinja2.compiler
import jinja2.filters
import jinja2.lexer
import jinja2.parser
import jinja2.runtime
import jinja2.sandbox
import jinja2.utils
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.exceptions import TemplateSyntaxError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup

from studio_shared.internals import Fence, Relied
from studio_shared.templates.allowlists import COMPARISONS
from studio_shared.templates.errors import TemplateError

VERIFIED = {"jinja2": "3.1.6"}


def raise_undefined(value: Undefined) -> NoReturn:
    """Raise the error a StrictUndefined carries (it names the missing attribute or key)."""
    value._fail_with_undefined_error()
    raise TemplateError("undefined value")  # pragma: no cover - the call above always raises


def attrgetter(environment: Any, attribute: Any) -> Callable[[Any], Any]:
    """Jinja's getter for a filter's ``attribute=`` argument (dotted paths, integer parts as indexes)."""
    return jinja2.filters.make_attrgetter(environment, attribute)


def passes_first_argument(func: Callable[..., Any]) -> bool:
    """Whether Jinja passes ``func`` the context, eval context or environment before the value."""
    return getattr(func, "jinja_pass_arg", None) is not None


class Position(int):
    """A token's line number (what Jinja reads) that also knows the token's character offset in the source."""

    offset: int


def lex_positioned(environment: Any, source: str) -> list[tuple[int, str, str]]:
    """The raw tokens of ``source`` (whitespace included), each line number a ``Position``; newlines must be ``\\n``.

    A TemplateSyntaxError from the lexer gets an ``offset`` attribute: how far the lexer got.
    """
    tokens: list[tuple[int, str, str]] = []
    offset = 0
    try:
        for lineno, token, value in environment.lexer.tokeniter(source, None):
            position = Position(lineno)
            position.offset = offset
            offset += len(value)
            tokens.append((position, token, value))
    except TemplateSyntaxError as exc:
        exc.offset = offset  # type: ignore[attr-defined]
        raise
    return tokens


def parse_positioned(environment: Any, source: str, tokens: list[tuple[int, str, str]]) -> nodes.Template:
    """Parse the tokens of ``lex_positioned`` (nothing is compiled): every node's ``lineno`` is a ``Position``.

    A TemplateSyntaxError gets an ``offset`` attribute: where the parser stopped.
    """
    parser = jinja2.parser.Parser(environment, source)
    parser.stream = jinja2.lexer.TokenStream(environment.lexer.wrap(iter(tokens)), None, None)
    try:
        return parser.parse()
    except TemplateSyntaxError as exc:
        exc.offset = exc.lineno.offset if isinstance(exc.lineno, Position) else len(source)  # type: ignore[attr-defined]
        raise


def render_parts(template: Template, context: Context) -> Iterator[str]:
    """Render ``template`` into ``context`` (which keeps what the template assigned), part by part."""
    return template.root_render_func(context)


class GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator with ``~``, comparisons, literals and slices routed through the environment's guards."""

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("environment.studio_compare(")
        self.visit(node.expr, frame)
        for operand in node.ops:
            if operand.op not in COMPARISONS:  # pragma: no cover - the parser only produces these
                self.fail(f"unknown comparison {operand.op!r}", node.lineno)
            self.write(f", {operand.op!r}, ")
            self.visit(operand.expr, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.studio_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.studio_created(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        self.write("environment.studio_created(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.studio_created(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.studio_slice(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")


class FormatGuard(Protocol):
    """What bounds one ``str.format``: called for each value inserted, before and after each field is formatted."""

    def inserted(self, value: Any) -> None: ...

    def formatting(self, value: Any, format_spec: str) -> None: ...

    def formatted(self, text: str) -> None: ...


class _GuardedFormatter(SandboxedFormatter):
    """The sandbox's str.format formatter, asking its guard about every value and field."""

    def __init__(self, env: Any, guard: FormatGuard, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.guard = guard

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        obj, first = super().get_field(field_name, args, kwargs)
        self.guard.inserted(obj)
        return obj, first

    def format_field(self, value: Any, format_spec: str) -> str:
        self.guard.formatting(value, format_spec)
        text: str = super().format_field(value, format_spec)
        self.guard.formatted(text)
        return text


class _GuardedEscapeFormatter(_GuardedFormatter, SandboxedEscapeFormatter):
    """The guarded formatter for Markup.format (escapes inserted values)."""


class GuardedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox compiling with ``GuardedCodeGenerator`` and formatting through ``format_guard()``."""

    code_generator_class = GuardedCodeGenerator

    def format_guard(self) -> FormatGuard:
        """A fresh guard for one ``str.format``/``format_map`` method taken from a string."""
        raise NotImplementedError

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format/format_map through the guarded formatter (Jinja's own wrapper, with a guard)."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        is_format_map = value.__name__ == "format_map"
        formatter: _GuardedFormatter
        if isinstance(f_self, Markup):
            formatter = _GuardedEscapeFormatter(self, self.format_guard(), escape=f_self.escape)
        else:
            formatter = _GuardedFormatter(self, self.format_guard())
        str_type = type(f_self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)


def _marked() -> Any:
    """A function as ``pass_environment`` marks it (for the fence's check)."""
    return jinja2.utils.pass_environment(lambda environment, value: value)


def _template() -> Template:
    return ImmutableSandboxedEnvironment().from_string("{{ 1 }}")


FENCE = Fence(
    module="studio_shared/templates/_jinja_internals.py",
    verified=VERIFIED,
    relied=(
        Relied("jinja2.runtime.Undefined", ("_fail_with_undefined_error",), lambda: jinja2.runtime.Undefined),
        Relied(
            "jinja2.compiler.CodeGenerator",
            (
                "visit_Compare(node, frame)",
                "visit_Concat(node, frame)",
                "visit_List(node, frame)",
                "visit_Tuple(node, frame)",
                "visit_Dict(node, frame)",
                "visit_Getitem(node, frame)",
                "visit(node)",
                "write(x)",
                "fail(msg, lineno)",
            ),
            lambda: CodeGenerator,
        ),
        Relied("jinja2.compiler", ("Frame",), lambda: jinja2.compiler),
        Relied("jinja2.sandbox", ("SandboxedFormatter", "SandboxedEscapeFormatter"), lambda: jinja2.sandbox),
        Relied(
            "jinja2.sandbox.SandboxedFormatter",
            ("__init__(env)", "get_field", "format_field"),
            lambda: SandboxedFormatter,
        ),
        Relied(
            "jinja2.sandbox.SandboxedEnvironment", ("wrap_str_format(value)",), lambda: ImmutableSandboxedEnvironment
        ),
        Relied("jinja2.filters", ("make_attrgetter(environment, attribute)",), lambda: jinja2.filters),
        Relied("a filter marked by jinja2.utils.pass_environment", ("jinja_pass_arg",), _marked),
        Relied("jinja2.environment.Template", ("root_render_func",), _template),
        Relied("jinja2.lexer.Lexer", ("tokeniter(source, name)", "wrap(stream)"), lambda: jinja2.lexer.Lexer),
        Relied("jinja2.lexer", ("TokenStream",), lambda: jinja2.lexer),
        Relied("jinja2.parser.Parser", ("__init__(environment, source)", "parse"), lambda: jinja2.parser.Parser),
        Relied("a jinja2.parser.Parser", ("stream",), lambda: jinja2.parser.Parser(_template().environment, "")),
    ),
)
