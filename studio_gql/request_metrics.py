"""GraphQL operations over HTTP in ``studio_graphql_request_duration_seconds`` (studio_shared/metrics.py).

The operation label is the name the request chose, or the document's single operation's name, through a bounded
label (``anonymous`` when unnamed, ``other`` past the first 200 names or for a name no GraphQL parser would take,
long names cut and hashed). The outcome is ``rejected`` (nothing executed: a parse, validation or hygiene error),
``error`` (executed, with errors) or ``ok``. Subscriptions (over websocket) are counted by their own gauge instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from studio_shared.metrics import metrics


class RequestMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if not isinstance(getattr(context.context, "request", None), Request):
            yield
            return
        started = time.perf_counter()
        outcome = "error"  # an exception escaping the operation
        try:
            yield
            result = context.result
            if context.pre_execution_errors or result is None:
                outcome = "rejected"
            else:
                outcome = "error" if result.errors else "ok"
        finally:
            operation = metrics.operations(context.operation_name)
            metrics.graphql_duration.labels(operation, outcome).observe(time.perf_counter() - started)
