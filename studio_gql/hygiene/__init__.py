"""What the API refuses before any resolver runs, beyond the body size, one concept per module:

- ``strict_json``: strict JSON for request bodies and websocket messages (``loads``, ``BadJSON``): no U+0000, no
  unpaired surrogates, no NaN or Infinity, nothing nested deeper than ``MAX_JSON_DEPTH``; a 400 with a message.
- ``ws_messages``: the shapes of graphql-transport-ws messages (``ws_message_problem``), checked before
  Strawberry's handler reads them.
- ``limits``: depth and alias limits counted through fragments, each fragment once (``DepthRule``, ``AliasRule``).
- ``cost``: what a document may ask the database for, as graphql-core executes it (``CostRule``, ``query_cost``,
  ``LIST_ESTIMATES``); over ``STUDIO_GRAPHQL_MAX_COST`` it is refused with ``QUERY_TOO_COSTLY``.
- ``literals``: string and float literals obey the body's rules (``StorableLiteralsRule``).
- ``suggestions``: no "Did you mean …?" in production, in validation (``HideSuggestions``) and execution
  (``QuietExecution``).
- ``operations``: several operations need ``operationName``; a subscription over HTTP is refused with a reason
  (``OperationChecks``).
- ``validation``: the rules built once per schema (``validation_rules``) and the extensions that add them and cache
  the results by document text (``validation_extensions``; why not Strawberry's ``ValidationCache``: its doc).
"""

from studio_gql.hygiene.cost import LIST_ESTIMATES, query_cost
from studio_gql.hygiene.operations import OperationChecks
from studio_gql.hygiene.strict_json import MAX_JSON_DEPTH, BadJSON, loads, text_problem, unstorable
from studio_gql.hygiene.suggestions import QuietExecution
from studio_gql.hygiene.validation import validation_extensions, validation_rules
from studio_gql.hygiene.ws_messages import ws_message_problem

__all__ = [
    "LIST_ESTIMATES",
    "MAX_JSON_DEPTH",
    "BadJSON",
    "OperationChecks",
    "QuietExecution",
    "loads",
    "query_cost",
    "text_problem",
    "unstorable",
    "validation_extensions",
    "validation_rules",
    "ws_message_problem",
]
