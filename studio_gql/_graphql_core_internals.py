"""graphql-core internals the API relies on, fenced in one module (README: "Library internals we rely on").

``hide_suggestions``: graphql-core's ``validate(..., hide_suggestions=True)`` leaves "Did you mean …?" out of
validation errors (field, argument, type and enum value names, which spell out the schema that production keeps to
itself), but Strawberry calls ``validate`` without it, its ``ValidationCache`` too. So in production the rule
``studio_gql.hygiene.suggestions.HideSuggestions`` sets the flag on the ``ValidationContext`` it is built with:
every rule of a validation is built before any visits the document, and the rules read the flag while visiting.
The flag is the private field behind the read-only ``ValidationContext.hide_suggestions`` property.
"""

from __future__ import annotations

from graphql import GraphQLSchema, TypeInfo, ValidationContext, build_schema, parse

from studio_shared.internals import Fence, Relied

VERIFIED = {"graphql-core": "3.3.2"}


def hide_suggestions(context: ValidationContext) -> None:
    """Validate the rest of this document as ``validate(..., hide_suggestions=True)`` would."""
    context._hide_suggestions = True


def _context() -> ValidationContext:
    schema: GraphQLSchema = build_schema("type Query { a: Int }")
    return ValidationContext(schema, parse("{ a }"), TypeInfo(schema), lambda _error: None)


def _flag_is_read() -> str | None:
    context = _context()
    hide_suggestions(context)
    if context.hide_suggestions is not True:
        return "ValidationContext.hide_suggestions no longer reads _hide_suggestions"
    return None


FENCE = Fence(
    module="studio_gql/_graphql_core_internals.py",
    verified=VERIFIED,
    relied=(Relied("graphql.ValidationContext (an instance)", ("_hide_suggestions",), _context),),
    probes=(_flag_is_read,),
)
