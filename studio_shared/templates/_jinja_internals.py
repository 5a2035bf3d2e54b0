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
import jinja2.runtime
import jinja2.sandbox
import jinja2.utils
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
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
    ),
)
