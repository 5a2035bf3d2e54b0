"""The one message builder for validation problems, whichever schema found them (node configs, run inputs, forms,
tool arguments): paths relative to what the caller validated, values echoed as JSON and capped, never a Python
``repr`` (jsonschema's own messages say ``'x' is not of type 'integer'`` and quote whole dicts)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from studio_shared.errors import Problem
from studio_shared.schemas.admission import INVALID_PATTERN
from studio_shared.schemas.regex import SYNTAX_HINT

MAX_MESSAGE = 300
SHORT = 60


class SafeError(ValidationError):  # type: ignore[misc]
    """An error whose message the studio built (JSON echo, capped); ``code`` replaces the caller's when set."""

    def __init__(self, message: str, code: str | None = None, path: Sequence[str | int] = ()) -> None:
        super().__init__(message, path=path)
        self.code = code


def json_type(value: object) -> str:
    """The JSON type name of a Python value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short(value: object, limit: int = SHORT) -> str:
    """A compact JSON rendering of ``value`` for messages, cut at ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(str(type(value).__name__))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(message: str) -> str:
    """Keeps messages short even when they quote large values."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _names(values: Iterable[object]) -> str:
    listed = [short(v, 40) for v in values]
    return ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


_BOUND_WORDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}
_SIZES = {
    "minItems": ("at least", "item", list),
    "maxItems": ("at most", "item", list),
    "minProperties": ("at least", "property", dict),
    "maxProperties": ("at most", "property", dict),
}


def describe(error: ValidationError) -> str:
    """What ``error`` means, in the studio's words, echoing values as capped JSON."""
    if isinstance(error, SafeError):
        return str(error.message)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if isinstance(custom, str) and kind != "type":
        return custom
    if (bound := _BOUND_WORDS.get(str(kind))) is not None:
        return f"must be {bound} {short(expected)}; got {short(instance)}"
    if kind in _SIZES:
        word, noun, kind_of = _SIZES[str(kind)]
        has = f"; it has {len(instance)}" if isinstance(instance, kind_of) else ""
        return f"must have {word} {_count(int(expected), 'item' if noun == 'item' else 'property')}{has}".replace(
            "propertys", "properties"
        )
    if kind == "minLength" and expected == 1:
        return "must not be empty"
    if kind in ("minLength", "maxLength"):
        return f"must be {'at least' if kind == 'minLength' else 'at most'} {expected} characters long"
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"must be {' or '.join(map(str, names))}, not {json_type(instance)}"
    if kind == "enum" and isinstance(expected, list):
        return f"must be one of {_names(expected)}; got {short(instance)}"
    if kind == "const":
        return f"must be {short(expected)}; got {short(instance)}"
    if kind == "format" and expected == "regex" and error.cause is not None:
        return f"{short(instance)} is not a valid RE2 regular expression: {error.cause} ({SYNTAX_HINT})"
    if kind == "format":
        return f"{short(instance)} is not a valid {expected}"
    if kind == "not":
        return f"{short(instance)} is not allowed here"
    if kind == "multipleOf":
        return f"must be a multiple of {short(expected)}; got {short(instance)}"
    if kind == "pattern":
        return f"{short(instance)} does not match the pattern {short(expected)}"
    if kind == "required" and isinstance(expected, list) and isinstance(instance, dict):
        missing = [name for name in expected if name not in instance]
        return f"{_names(missing)} {'is a required property' if len(missing) == 1 else 'are required properties'}"
    if kind == "dependentRequired" and isinstance(expected, dict) and isinstance(instance, dict):
        pairs = [(k, n) for k, needs in expected.items() if k in instance for n in needs if n not in instance]
        return "; ".join(f"{short(n)} is required when {short(k)} is present" for k, n in pairs[:5])
    if kind in ("oneOf", "anyOf") and isinstance(expected, list):
        if kind == "oneOf" and not error.context:
            return f"must match exactly one of {_count(len(expected), 'alternative')}; it matches several"
        closest = best_match(error.context) if error.context else None
        hint = ""
        if closest is not None:
            where = ".".join(map(str, closest.relative_path))
            hint = f" (closest: {where + ' ' if where else ''}{describe(closest)})"
        return f"must match {'exactly' if kind == 'oneOf' else 'at least'} one of {len(expected)} alternatives{hint}"
    if kind == "contains":
        return "must contain an item that matches the schema"
    if kind in ("minContains", "maxContains"):
        word = "at least" if kind == "minContains" else "at most"
        return f"must contain {word} {_count(int(expected), 'matching item')}"
    if kind in ("items", "prefixItems", "unevaluatedItems") and expected is False:
        return "has more items than the schema allows"
    if kind == "unevaluatedItems":
        return "has items that no part of the schema allows"
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        return "has properties that the schema does not allow"
    if kind is None and error.schema is False:
        return "no value is allowed here"
    return f"{short(instance)} is not valid here ({kind})"


def _path_key(problem: Problem) -> tuple[tuple[int, int, str], ...]:
    """Sorts paths naturally: nodes[2] before nodes[10], and a parent before its children."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in problem.path)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deduplicates and orders problems by path (stable for ties), so answers are deterministic."""
    return sorted(dict.fromkeys(problems), key=_path_key)


def problem_of(error: ValidationError, prefix: Sequence[str], code: str) -> Problem:
    """One jsonschema error as a user-facing problem with its path under ``prefix``."""
    path = (*prefix, *(str(part) for part in error.absolute_path))
    if isinstance(error, SafeError) and error.code is not None:
        code = error.code
    elif error.validator == "format" and error.validator_value == "regex":
        code = INVALID_PATTERN
    return Problem(tuple(path), clip(describe(error)), code)


def schema_problems(
    errors: Iterable[ValidationError], prefix: Sequence[str] = (), code: str = "INVALID"
) -> list[Problem]:
    """Every problem of ``errors`` (a validator's ``iter_errors``), with paths under ``prefix``, sorted."""
    found = [problem_of(error, prefix, code) for error in errors]
    return sorted(dict.fromkeys(found), key=lambda p: (_path_key(p), p.message))


def first_message(errors: Iterable[Any]) -> str | None:
    """``where: what`` of the first error, or None (for one-line answers such as a tool call's)."""
    for error in errors:
        where = "/".join(map(str, error.absolute_path))
        return clip(f"{where + ': ' if where else ''}{describe(error)}")
    return None
