"""The studio's validation rules, built once per schema, and the cache of validation results per document text.

The rules are classes defined once, with the settings' limits as class attributes of a subclass built once per
schema (``limited``), so every operation validates with the same rule classes. (Before, each operation built its
rule classes afresh, which is also why Strawberry's own ``ValidationCache``, keyed on them, never hit.)

Validation results are cached by document text: the run monitor and the subscriber fleet send the same few
documents thousands of times, and validating one costs about 2 ms of CPU (``python -m bench graphql-validation``:
1.9 to 2.4 ms per operation without a cache, 0.14 to 0.16 ms with this one). With the rule classes stable,
Strawberry's ``ValidationCache`` works, but it keys on the parsed document, and graphql-core 3.3's AST nodes are
frozen dataclasses whose hash walks the whole tree on every lookup: 4.5 µs per hit for the subscriber fleet's
``runEvents``, 11 µs for the run monitor's query, against 0.2 µs for a lookup by text (0.16 to 0.17 ms per operation
with it in the benchmark). So the cache here stays. Every rule depends on the document alone (the limits are fixed
for the schema, variables are not seen), so a verdict per text is exact.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TypeVar, cast

from graphql import ASTValidationRule, GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension

from studio_gql.hygiene.cost import CostRule
from studio_gql.hygiene.limits import AliasRule, DepthRule
from studio_gql.hygiene.literals import StorableLiteralsRule
from studio_gql.hygiene.suggestions import HideSuggestions
from studio_shared.settings import Settings

VALIDATION_CACHE_SIZE = 256  # documents; beyond it the least recently used is validated again when it returns
R = TypeVar("R", bound=type[ASTValidationRule])


def limited(rule: R, **limits: int) -> R:
    """``rule`` with its limits as class attributes: a class built once per schema, never per operation."""
    return cast(R, type(rule.__name__, (rule,), dict(limits)))


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The rules added to GraphQL's own, in the order they report: depth, aliases and cost (through fragments, each
    once), in production no introspection and no suggestions, storable literals."""
    quiet = not settings.graphql_introspection_enabled
    return [
        limited(DepthRule, max_depth=settings.graphql_max_depth),
        limited(AliasRule, max_aliases=settings.graphql_max_aliases),
        limited(CostRule, max_cost=settings.graphql_max_cost),
        *([NoSchemaIntrospectionCustomRule, HideSuggestions] if quiet else []),
        StorableLiteralsRule,
    ]


class ValidationCache:
    """Validation results by document text, least recently used out first (one per schema: its rules are fixed)."""

    def __init__(self, maxsize: int = VALIDATION_CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self._results: OrderedDict[str, tuple[GraphQLError, ...]] = OrderedDict()

    def get(self, text: str) -> list[GraphQLError] | None:
        found = self._results.get(text)
        if found is None:
            return None
        self._results.move_to_end(text)
        return list(found)  # a fresh list: callers may extend it

    def put(self, text: str, errors: list[GraphQLError]) -> None:
        self._results[text] = tuple(errors)
        self._results.move_to_end(text)
        while len(self._results) > self.maxsize:
            self._results.popitem(last=False)


class _CachedValidation(SchemaExtension):
    """Answers validation from the cache; on a miss Strawberry validates, as without it, and the verdict is kept."""

    def __init__(self, cache: ValidationCache) -> None:
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        text = context.query
        decided = context.pre_execution_errors is not None  # by an extension before this one (a refusal, a pin)
        known = self.cache.get(text) if text is not None and not decided else None
        if known is not None:
            context.pre_execution_errors = known
        yield
        if known is None and not decided and text is not None and context.pre_execution_errors is not None:
            self.cache.put(text, context.pre_execution_errors)


def validation_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories (Strawberry builds fresh extensions for every operation) that add the rules, built here
    once, and answer validation from one cache per schema."""
    rules = validation_rules(settings)
    cache = ValidationCache()
    return [lambda: AddValidationRules(rules), lambda: _CachedValidation(cache)]
