"""jsonschema internals the validator factory relies on, fenced in one module (README: "Library internals we rely
on").

``unevaluatedProperties`` needs the keys each part of a schema evaluates. jsonschema computes them with a private
helper (``jsonschema._utils.find_evaluated_property_keys_by_schema``) that matches ``patternProperties`` with
Python's ``re`` and charges nothing to a budget, so ``studio_shared.schemas.validators`` has its own, on RE2 and
metered. Following a ``$ref`` there must resolve it the way jsonschema's keywords do, from where the validator
stands: ``validator._resolver`` (a ``referencing`` resolver) looks it up, and ``evolve(_resolver=...)`` makes the
validator that continues under it. That is what ``resolve_reference`` does, as jsonschema's helper does it.
"""

from __future__ import annotations

from typing import Any

from studio_shared.internals import Fence, Relied

VERIFIED = {"jsonschema": "4.26.0"}


def resolve_reference(validator: Any, ref: str) -> tuple[Any, Any]:
    """The schema ``ref`` points at from where ``validator`` stands, and a validator evolved to continue under it."""
    resolved = validator._resolver.lookup(ref)
    return resolved.contents, validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)


def _validator() -> Any:
    """A validator from the factory (imported here: the factory imports this module)."""
    from studio_shared.schemas.validators import CompiledSchema

    return CompiledSchema({"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}).validator


def _reference_resolves() -> str | None:
    contents, inner = resolve_reference(_validator(), "#/$defs/a")
    if contents != {"type": "string"} or not inner.is_valid("text") or inner.is_valid(1):
        return "validator._resolver.lookup / evolve(_resolver=...) no longer resolve a local $ref"
    return None


FENCE = Fence(
    module="studio_shared/schemas/_jsonschema_internals.py",
    verified=VERIFIED,
    relied=(Relied("a jsonschema validator (an instance)", ("_resolver", "evolve(changes)"), _validator),),
    probes=(_reference_resolves,),
)
