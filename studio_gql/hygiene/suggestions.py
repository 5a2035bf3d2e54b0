"""Production keeps the schema to itself: no "Did you mean …?" hints, which spell out field, argument, type and
enum value names that disabled introspection hides. Validation hides them through ``HideSuggestions`` (a rule, so
that Strawberry's validation and its cache apply it); execution through ``QuietExecution``."""

from __future__ import annotations

from graphql import ValidationContext, ValidationRule

from studio_gql._graphql_core_internals import hide_suggestions
from studio_gql._strawberry_internals import QuietExecution

__all__ = ["HideSuggestions", "QuietExecution"]


class HideSuggestions(ValidationRule):
    """Validate the document as ``validate(..., hide_suggestions=True)`` would (Strawberry passes no such flag)."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        hide_suggestions(context)
