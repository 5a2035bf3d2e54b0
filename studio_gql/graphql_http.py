"""The GraphQL-over-HTTP rules the endpoint follows (https://graphql.github.io/graphql-over-http/draft/), apart from
the view that applies them (``studio_gql.graphql_app``):

- ``negotiate``: which of the two media types an ``Accept`` header asks for. ``application/graphql-response+json``
  when the client names it (and does not prefer ``application/json``), ``application/json`` for ``*/*``, for
  ``application/*``, for no ``Accept`` at all (older clients), or when the client prefers it; None when it accepts
  neither (406).
- ``is_request_error``: a result that failed before execution began (the document does not parse, does not
  validate, its variables do not coerce, no operation can be chosen). Its answer has no ``data`` entry, in both media
  types, as the GraphQL specification says ("If an error was raised before execution begins, the data entry should
  not be present").
- ``request_error_status``: the status of such an answer under ``application/graphql-response+json``: 400 for the
  client's mistakes, 503 for a database outage and 500 for an unexpected error (both can only happen before execution
  inside the schema's own extensions). Under ``application/json`` every GraphQL answer is a 200, as that media type's
  rules say.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError

from studio_gql.errors import INTERNAL_MESSAGE

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
SUPPORTED = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)

# How closely a range of the Accept header names a media type: the exact type beats "application/*" beats "*/*".
_EXACT, _SUBTYPE_WILDCARD, _WILDCARD = 3, 2, 1


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The header's media ranges with their weights, lowercased; a range whose ``q`` is not a number in [0, 1] is
    dropped, as RFC 9110 gives it no meaning."""
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if "/" not in media:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = -1.0
        if 0.0 <= weight <= 1.0:
            ranges.append((media.lower(), weight))
    return ranges


def _match(media_type: str, ranges: Sequence[tuple[str, float]]) -> tuple[float, int]:
    """The weight the client gives ``media_type`` (that of the most specific range naming it) and how specific that
    range is; (0, 0) when no range names it."""
    main = media_type.split("/")[0]
    best = (0.0, 0)
    for media, weight in ranges:
        if media == media_type:
            specificity = _EXACT
        elif media == f"{main}/*":
            specificity = _SUBTYPE_WILDCARD
        elif media == "*/*":
            specificity = _WILDCARD
        else:
            continue
        if specificity > best[1]:
            best = (weight, specificity)
    return best


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither of the two (406)."""
    if accept is None or not accept.strip():
        return APPLICATION_JSON  # a client that predates the specification's new media type
    ranges = _ranges(accept)
    graphql_weight, graphql_specificity = _match(GRAPHQL_RESPONSE_JSON, ranges)
    json_weight, _ = _match(APPLICATION_JSON, ranges)
    if graphql_weight <= 0 and json_weight <= 0:
        return None
    if graphql_weight != json_weight:
        return GRAPHQL_RESPONSE_JSON if graphql_weight > json_weight else APPLICATION_JSON
    # Equal weights: graphql-response+json when the client names it (it says more: the status tells a request error
    # from a partial answer), application/json when only a wildcard covers it (what such clients expect).
    return GRAPHQL_RESPONSE_JSON if graphql_specificity == _EXACT else APPLICATION_JSON


def is_request_error(data: object, errors: Sequence[GraphQLError] | None) -> bool:
    """No data and no error located in the response: nothing was executed. (An error raised while executing always
    has a path; a field error that nulls the whole response still leaves ``data`` present, as null.)"""
    return data is None and bool(errors) and all(error.path is None for error in errors or ())


def request_error_status(errors: Sequence[GraphQLError]) -> int:
    """The status of a request error's answer under ``application/graphql-response+json``."""
    codes = {(error.extensions or {}).get("code") for error in errors}
    if "UNAVAILABLE" in codes:
        return 503
    if any(error.message == INTERNAL_MESSAGE for error in errors):
        return 500
    return 400
