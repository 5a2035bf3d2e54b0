"""Literals in a document obey the request body's rules: strings that can be stored, numbers that are finite."""

from __future__ import annotations

import math
from typing import Any

from graphql import FloatValueNode, GraphQLError, StringValueNode, ValidationRule

from studio_gql.hygiene.strict_json import text_problem


class StorableLiteralsRule(ValidationRule):
    """Refuse a string literal with U+0000 or an unpaired surrogate, and a float literal that overflows."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if problem := text_problem(node.value):
            self.report_error(GraphQLError(f"a string literal is not storable: {problem}", node))

    def enter_float_value(self, node: FloatValueNode, *_: Any) -> None:
        if not math.isfinite(float(node.value)):
            self.report_error(GraphQLError(f"the number {node.value[:40]} is out of range", node))
