"""``Templates``: renders every ``{{ … }}`` in a node config against a scope of JSON data, inside the sandbox."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from studio_shared.templates._jinja_internals import render_parts
from studio_shared.templates.environment import build_environment
from studio_shared.templates.errors import TemplateError, describe, excerpt
from studio_shared.templates.limits import MAX_DEPTH
from studio_shared.templates.meter import METER, Meter
from studio_shared.templates.source import NATIVE_RESULT, Compiled, Failure, compile_source
from studio_shared.templates.values import Converter


class Templates:
    """Renders ``{{ … }}`` templates in node configs against a scope of JSON data, inside the sandbox."""

    def __init__(
        self, *, max_template_chars: int = 20_000, max_output_chars: int = 1_000_000, cache_size: int = 2048
    ) -> None:
        """Limits: template source length, size of the values a render() may produce; LRU size of compiled sources."""
        self.max_template_chars = max_template_chars
        self.max_output_chars = max_output_chars
        self._env = build_environment()
        self._compile = functools.lru_cache(maxsize=cache_size)(self._compile_uncached)

    def render(self, value: Any, scope: Mapping[str, Any], *, path: Sequence[str] = ()) -> Any:
        """Render every template in ``value`` (dicts/lists walked, new containers returned, input never mutated)."""
        meter = Meter(self.max_output_chars)
        token = METER.set(meter)
        try:
            return self._walk(value, scope, tuple(path), meter, 0)
        finally:
            METER.reset(token)

    def evaluate(self, expression_template: str, scope: Mapping[str, Any], *, path: Sequence[str] = ()) -> Any:
        """Render one template string natively (conditions, switch values); a string without {{ }} is an error."""
        if not isinstance(expression_template, str) or "{{" not in expression_template:
            raise TemplateError("expected an expression in {{ }}, for example {{ input.amount > 100 }}", path)
        return self.render(expression_template, scope, path=path)

    def check(self, value: Any, *, path: Sequence[str] = ()) -> list[tuple[tuple[str, ...], str]]:
        """Compile every template in a config without rendering; returns (path, message) for each bad one."""
        problems: list[tuple[tuple[str, ...], str]] = []
        self._check(value, tuple(path), problems, 0)
        return problems

    def cache_info(self) -> Any:
        """Statistics of the compiled-template LRU cache (functools.lru_cache's cache_info())."""
        return self._compile.cache_info()

    def _walk(self, value: Any, scope: Mapping[str, Any], path: tuple[str, ...], meter: Meter, depth: int) -> Any:
        if isinstance(value, str):
            return self._render_string(value, scope, path, meter) if "{{" in value else value
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise TemplateError(f"the config is nested more than {MAX_DEPTH} levels deep", path)
        if isinstance(value, dict):
            return {key: self._walk(item, scope, (*path, str(key)), meter, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item, scope, (*path, str(i)), meter, depth + 1) for i, item in enumerate(value)]
        return value

    def _check(
        self, value: Any, path: tuple[str, ...], problems: list[tuple[tuple[str, ...], str]], depth: int
    ) -> None:
        if isinstance(value, str):
            if "{{" in value:
                try:
                    self._compiled(value)
                except TemplateError as exc:
                    problems.append((path, exc.message))
        elif depth >= MAX_DEPTH:
            if isinstance(value, dict | list):
                problems.append((path, f"the config is nested more than {MAX_DEPTH} levels deep"))
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check(item, (*path, str(key)), problems, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._check(item, (*path, str(i)), problems, depth + 1)

    def _compiled(self, source: str) -> Compiled:
        """The compiled template for ``source`` (cached); TemplateError when it is too long or invalid."""
        if len(source) > self.max_template_chars:
            raise TemplateError(
                f"the template is {len(source):,} characters long; the limit is {self.max_template_chars:,} "
                "— shorten it"
            )
        compiled = self._compile(source)
        if isinstance(compiled, Failure):
            raise TemplateError(f"{compiled.message} (in {excerpt(source)})")
        return compiled

    def _compile_uncached(self, source: str) -> Compiled | Failure:
        return compile_source(self._env, source)

    def _render_string(self, source: str, scope: Mapping[str, Any], path: tuple[str, ...], meter: Meter) -> Any:
        try:
            compiled = self._compiled(source)
        except TemplateError as exc:
            raise TemplateError(exc.message, path) from None
        try:
            context = compiled.template.new_context(dict(scope))
            if compiled.native:
                for _ in render_parts(compiled.template, context):
                    pass
                converter = Converter(meter.max_output - meter.output, meter.max_output)
                result = converter.convert(context.vars[NATIVE_RESULT])
                meter.output += converter.used
                return result
            parts: list[str] = []
            for part in render_parts(compiled.template, context):
                meter.output += len(part)
                if meter.output > meter.max_output:
                    raise TemplateError(
                        f"the rendered result is larger than the limit of {meter.max_output:,} characters"
                    )
                parts.append(part)
            return "".join(parts)
        except Exception as exc:  # every failure becomes a TemplateError with the path
            raise TemplateError(f"{describe(exc)} (in {excerpt(source)})", path) from None


@functools.cache
def default_templates() -> Templates:
    """The shared Templates instance with default limits."""
    return Templates()
