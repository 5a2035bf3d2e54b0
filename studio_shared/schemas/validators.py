"""The validator factory: every JSON Schema validator in the studio is built here, and only here.

What a validator from this module guarantees, whoever wrote its schema:

- **Nothing is fetched.** ``$ref`` resolves through ``REGISTRY``, whose ``retrieve`` refuses every URI; the
  admission rules (``studio_shared.schemas.admission``) refuse any reference outside the document anyway.
  jsonschema's default still fetched remote references with ``urlopen`` (``http://…``, ``file://…``).
- **No backtracking regex.** ``pattern``, ``patternProperties``, ``additionalProperties`` and
  ``unevaluatedProperties`` (which match property names against patterns), and the ``regex`` format, use RE2
  (``studio_shared.schemas.regex``). Draft 2020-12 only; the root's ``$schema`` is dropped from the compiled copy
  and nested ones are refused, so jsonschema never swaps in a stock validator class for a sub-schema.
- **Bounded work.** Each keyword call and each regex search spends from a budget (``studio_shared.schemas.budget``)
  for user schemas; ``uniqueItems`` hashes instead of comparing every pair.
- **Readable problems.** ``studio_shared.schemas.messages`` builds every message: JSON echoes, capped.

``CompiledSchema`` pairs a validator with the fast check (``studio_shared.schemas.fast``); ``user_schema`` compiles
a user's schema once per process (bounded cache) and refuses the unusable ones with ``UnusableSchema``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

from studio_shared.errors import Problem
from studio_shared.schemas import budget
from studio_shared.schemas._jsonschema_internals import resolve_reference
from studio_shared.schemas.admission import INVALID_PATTERN, MAX_SCHEMA_BYTES, Refusal, refusals, size_refusals
from studio_shared.schemas.fast import Check, compile_fast
from studio_shared.schemas.messages import SafeError, clip, describe, schema_problems, short
from studio_shared.schemas.regex import Regex, RegexError, compile_regex, regex_problem

UNUSABLE_SCHEMA = "UNUSABLE_SCHEMA"
TOO_COMPLEX = "TOO_COMPLEX"
CACHE_SIZE = 256
MAX_PROBLEMS = 100  # per validation: enough to fix a form, and a bound on the answer to a huge invalid input

Keyword = Callable[[Any, Any, Any, Any], Iterator[ValidationError] | None]


# ---------------------------------------------------------------------------------------------- references


def _refuse(uri: str) -> referencing.Resource[Any]:
    """The registry's retrieve: the studio never fetches a schema, whatever a `$ref` names."""
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


REGISTRY: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------- the keywords


def _regex(pattern: str) -> Regex | SafeError:
    try:
        return compile_regex(pattern)
    except RegexError as exc:  # refused at save; a schema from elsewhere says so instead of failing
        return SafeError(clip(f"the schema's pattern {short(pattern)} is not valid RE2: {exc.reason}"), INVALID_PATTERN)


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string") or not isinstance(pattern, str):
        return
    regex = _regex(pattern)
    if isinstance(regex, SafeError):
        yield regex
    elif not regex.search(instance):
        yield ValidationError(f"{short(instance)} does not match the pattern {short(pattern)}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _regex(pattern)
        if isinstance(regex, SafeError):
            yield regex
            continue
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _matches_any_pattern(schema: Any, key: str) -> bool:
    patterns = schema.get("patternProperties", {}) if isinstance(schema, dict) else {}
    return any(isinstance(r := _regex(p), Regex) and r.search(key) for p in patterns)


def _extras(instance: dict[str, Any], schema: Any) -> list[str]:
    known = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return [key for key in instance if key not in known and not _matches_any_pattern(schema, key)]


def _unknown(key: str, schema: Any) -> SafeError:
    known = list(schema.get("properties", {})) if isinstance(schema, dict) else []
    allowed = f"; allowed: {', '.join(known)}" if known and len(known) <= 25 else ""
    return SafeError(clip(f"unknown property {short(key)}{allowed}"), path=(key,))


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _extras(instance, schema)
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif extra is False:
        for key in extras:
            yield _unknown(key, schema)


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any) -> set[str]:
    """The keys some part of ``schema`` evaluates (jsonschema's own helper, with patterns on RE2)."""
    if not isinstance(schema, dict):
        return set()
    budget.spend(4)  # each call evolves validators and re-validates sub-schemas: a few keyword calls' worth
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        if isinstance(ref := schema.get(keyword), str):
            contents, inner = resolve_reference(validator, ref)
            keys |= _evaluated_keys(inner, instance, contents)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is not None:
            keys |= {k for k, v in instance.items() if next(validator.descend(v, subschema), None) is None}
    if isinstance(schema.get("patternProperties"), dict):
        keys |= {k for k in instance if _matches_any_pattern(schema, k)}
    for name, subschema in (schema.get("dependentSchemas") or {}).items():
        if name in instance:
            keys |= _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if next(validator.descend(instance, subschema), None) is None:
                keys |= _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(validator: Any, rest: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    for key in instance:
        if key in evaluated:
            continue
        if rest is False:
            yield _unknown(key, schema)
        else:
            yield from validator.descend(instance[key], rest, path=key, schema_path=key)


def _required(validator: Any, required: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        if name not in instance:
            yield SafeError(clip(f"{short(name)} is a required property"))


_TRUE, _FALSE = object(), object()  # JSON true and false: never equal to 1 and 0, unlike Python's bools
_PLAIN = frozenset({str, int, float, type(None)})


def _identity(value: Any) -> Any:
    """A hashable stand-in equal exactly when JSON Schema calls two values equal (1 == 1.0, true != 1)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is dict:
        return frozenset([(k, v if type(v) in _PLAIN else _identity(v)) for k, v in value.items()])
    if kind is list:
        return tuple([v if type(v) in _PLAIN else _identity(v) for v in value])
    return (_FALSE, repr(value))


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # jsonschema compares every pair of unsortable items: 100,000 objects would take hours.
    if unique is not True or not validator.is_type(instance, "array"):
        return
    budget.spend(len(instance))
    seen: set[Any] = set()
    for item in instance:
        identity = _identity(item)
        if identity in seen:
            yield SafeError(clip(f"items must be unique; {short(item)} appears more than once"))
            return
        seen.add(identity)


def _metered(keyword: Keyword) -> Keyword:
    """Charges one budget unit per keyword call (see ``studio_shared.schemas.budget``)."""

    def metered(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError] | None:
        budget.spend(1)
        return keyword(validator, value, instance, schema)

    metered.__name__ = metered.__qualname__ = getattr(keyword, "__name__", "keyword")
    return metered


def _x_json_schema(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """The `x-json-schema: true` keyword of node configs: the value must be a schema the studio accepts.

    A custom keyword rather than a `$ref` to the meta-schema keeps the registry documents free of remote
    references that a frontend form renderer would try to resolve.
    """
    if value is not True:
        return
    if too_big := size_refusals(instance):
        yield from _refusal_errors(too_big)
        return
    for error in _META.iter_errors(instance):
        yield SafeError(clip(f"not a valid JSON Schema: {describe(error)}"), path=tuple(error.absolute_path))
    yield from _refusal_errors(refusals(instance, limits=False))


def _refusal_errors(found: Iterable[Refusal]) -> Iterator[ValidationError]:
    for refusal in found:
        yield SafeError(clip(refusal.message), refusal.code, refusal.path)


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)

    def is_regex(instance: object) -> bool:
        if isinstance(instance, str):
            compile_regex(instance)
        return True

    checker.checks("regex", raises=RegexError)(is_regex)
    return checker


FORMATS = _format_checker()
_OVERRIDES: dict[str, Keyword] = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "unevaluatedProperties": _unevaluated_properties,
    "required": _required,
    "uniqueItems": _unique_items,
}
_KEYWORDS = {name: _metered(fn) for name, fn in {**Draft202012Validator.VALIDATORS, **_OVERRIDES}.items()}
# The two validator classes; nothing else in the studio may construct one (tests/shared/test_validator_factory.py).
UserValidator: Any = validators.extend(Draft202012Validator, _KEYWORDS, format_checker=FORMATS)
ConfigValidator: Any = validators.extend(UserValidator, {"x-json-schema": _x_json_schema}, format_checker=FORMATS)
# The meta-schema itself (trusted), to check that a user's schema is a JSON Schema at all.
_META = UserValidator(Draft202012Validator.META_SCHEMA, registry=REGISTRY)


def meta_problems(schema: object) -> list[Problem]:
    """Every way ``schema`` is not a JSON Schema 2020-12 (paths inside the schema)."""
    return schema_problems(_META.iter_errors(schema), (), UNUSABLE_SCHEMA)


# ---------------------------------------------------------------------------------------- compiled schemas


class UnusableSchema(ValueError):
    """A schema the studio refuses to validate with; ``problems`` say where and why (paths inside the schema)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else Problem((), "unusable")
        where = f" at {first.dotted}" if first.path else ""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first.message}{where}{more}")


def _compiled_copy(schema: Any) -> Any:
    """The document validators run: the root's `$schema` and `$id` dropped (admission refuses them below it), so
    a `$ref` to "#" keeps the studio's class and every `#…` reference resolves inside this document."""
    if isinstance(schema, dict):
        return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    return schema


class CompiledSchema:
    """A checked JSON Schema: a fast validity check for the common case, a factory validator for the details."""

    def __init__(
        self,
        schema: object,
        *,
        config: bool = False,
        limits: bool = True,
        units: int | None = None,
        formats: bool = True,
    ) -> None:
        """Refuses (UnusableSchema) what admission or the meta-schema refuses; ``config``: node-config keywords
        (``x-json-schema``); ``limits``: the size caps of user schemas; ``units``: the budget per validation;
        ``formats``: assert ``format`` (email, date-time, regex…) rather than treat it as an annotation."""
        problems = [Problem(r.path, clip(r.message), r.code) for r in size_refusals(schema)] if limits else []
        if not problems:
            problems = meta_problems(schema)
            problems += [Problem(r.path, clip(r.message), r.code) for r in refusals(schema, limits=False)]
        if problems:
            raise UnusableSchema(problems)
        self.schema = schema
        self.units = units
        document = _compiled_copy(schema)
        self.validator: Any = (ConfigValidator if config else UserValidator)(
            document, registry=REGISTRY, format_checker=FORMATS if formats else None
        )
        self.fast_check: Check = compile_fast(document)

    def is_valid(self, instance: object) -> bool:
        """Whether ``instance`` matches the schema (False as well when checking it would cost too much)."""
        with budget.metered(self.units):
            try:
                return self.fast_check(instance) or bool(self.validator.is_valid(instance))
            except (budget.TooExpensive, RecursionError, referencing.exceptions.Unresolvable):
                return False

    def problems(self, instance: object, prefix: Sequence[str] = (), code: str = "INVALID") -> list[Problem]:
        """The problems in ``instance`` (the first MAX_PROBLEMS), sorted, with paths under ``prefix``; [] when valid.

        A user schema's validation stops when it spends its budget: the problems found so far, and one that says so.
        """
        errors: list[ValidationError] = []
        stopped: Problem | None = None
        with budget.metered(self.units):
            try:
                if self.fast_check(instance):
                    return []
                for error in self.validator.iter_errors(instance):
                    errors.append(error)
                    if len(errors) == MAX_PROBLEMS:
                        break
            except budget.TooExpensive as exc:
                message = (
                    f"checking this value against the schema takes too long (over {exc.units:,} steps): send a"
                    " smaller value or simplify the schema"
                )
                stopped = Problem(tuple(prefix), message, TOO_COMPLEX)
            except RecursionError:
                stopped = Problem(tuple(prefix), "the value is nested too deeply to check", TOO_COMPLEX)
            except referencing.exceptions.Unresolvable as exc:
                message = f"the schema's reference {short(str(getattr(exc, 'ref', '')))} cannot be resolved"
                stopped = Problem(tuple(prefix), message, UNUSABLE_SCHEMA)
        found = schema_problems(errors, prefix, code)
        return [stopped, *found] if stopped is not None else found

    def first_message(self, instance: object) -> str | None:
        """``where: what`` of the first problem in ``instance`` (paths as a/b/0), or None when it is valid."""
        found = self.problems(instance)
        if not found:
            return None
        where = "/".join(found[0].path)
        return clip(f"{where + ': ' if where else ''}{found[0].message}")


_cache: OrderedDict[str, CompiledSchema | UnusableSchema] = OrderedDict()
_lock = threading.Lock()


def user_schema(schema: object, *, formats: bool = False) -> CompiledSchema:
    """The compiled form of a user's schema (an input, form or tool parameter schema), built once per process
    for each distinct schema (bounded cache); raises UnusableSchema for a schema the studio would refuse at save.
    ``formats``: assert ``format`` keywords (forms do; run inputs and tool arguments treat them as annotations)."""
    try:
        text = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        raise UnusableSchema([Problem((), "the schema is not plain JSON", UNUSABLE_SCHEMA)]) from None
    if len(text) > MAX_SCHEMA_BYTES:  # refused by the caps; not worth a cache entry of this size
        return CompiledSchema(schema, units=budget.DEFAULT_UNITS, formats=formats)
    key = f"{int(formats)}{text}"
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
    if found is None:
        try:
            found = CompiledSchema(schema, units=budget.DEFAULT_UNITS, formats=formats)
        except UnusableSchema as exc:
            found = exc
        with _lock:
            _cache[key] = found
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(found, UnusableSchema):
        raise UnusableSchema(found.problems)  # a fresh exception: re-raising the cached one would grow its traceback
    return found


__all__ = [
    "FORMATS",
    "REGISTRY",
    "TOO_COMPLEX",
    "UNUSABLE_SCHEMA",
    "CompiledSchema",
    "ConfigValidator",
    "UnusableSchema",
    "UserValidator",
    "meta_problems",
    "regex_problem",
    "user_schema",
]
