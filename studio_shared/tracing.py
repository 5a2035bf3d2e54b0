"""Traces (OpenTelemetry): one trace per run, from the request that started it to each step in whichever worker runs it.

Off by default, and then free: no tracer provider is built and the SDK is never imported; every helper here answers
``None`` or a no-op after one test of a module global. On when ``STUDIO_OTEL_ENABLED=true`` or OpenTelemetry's own
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (and ``OTEL_SDK_DISABLED`` is not
``true``). Spans go to the OTLP/HTTP exporter when an endpoint is set (its other ``OTEL_EXPORTER_OTLP_*`` variables
apply as usual), and as JSON lines to ``STUDIO_OTEL_SPANS_FILE`` when that is set (development, and the tests of
the services mode, whose workers are other processes).

The run row is where a trace crosses processes: ``Control.start_run`` stores the W3C ``traceparent`` of its
``run.start`` span on the run (``runs.traceparent``), and every step span a worker makes, today or after a crash,
a hand-over or an approval days later, is a child of it.

What a span carries is chosen so that no secret can ride along: ids, names, methods, hosts and status codes; never a
URL's path or query (a webhook URL's path is often its secret), headers, bodies, SQL text or error messages.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import Span, Tracer

    from studio_shared.settings import Settings

Attributes = Mapping[str, str | int | float | bool]

_tracer: Tracer | None = None


def enabled() -> bool:
    return _tracer is not None


def wanted(settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    """Does this configuration ask for traces? (OpenTelemetry's ``OTEL_SDK_DISABLED=true`` always wins.)"""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return settings.otel_enabled or bool(endpoint)


def configure(settings: Settings, service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Build this process's tracer provider when traces are wanted (once; later calls keep the first). ``service``:
    ``api``, ``worker`` or ``scheduler``, named ``studio-<service>`` unless ``OTEL_SERVICE_NAME`` names it."""
    if _tracer is not None:
        return True
    if not wanted(settings, environ):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": f"studio-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if settings.otel_spans_file:
        # Duck-typed (export, shutdown, force_flush): subclassing SpanExporter would import the SDK with this module.
        exporter = cast("SpanExporter", JsonLinesExporter(settings.otel_spans_file))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # for any instrumentation library the deployment adds
    install(provider)
    return True


def install(provider: TracerProvider | None) -> None:
    """Trace through ``provider`` from now on (None: stop tracing). ``configure`` calls it; so do the tests, with an
    in-memory exporter, without touching OpenTelemetry's global provider (which may be set only once)."""
    global _tracer
    _tracer = provider.get_tracer("studio") if provider is not None else None


def shutdown() -> None:
    """Flush and stop the global provider's exporters (a process's exit)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if flush is not None:
        flush()


@contextlib.contextmanager
def span(
    name: str,
    attributes: Attributes | None = None,
    *,
    parent: str | None = None,
    kind: str = "internal",
    root: bool = False,
) -> Iterator[Span | None]:
    """A span around the block, current inside it; None (and nothing else done) when tracing is off.

    ``parent``: a W3C traceparent to continue (a run's, read from its row); otherwise the current span's child.
    ``root``: a new trace even if a span is current. ``kind``: internal, server, client. An exception escaping the
    block marks the span as an error by its type only (its message may quote a secret).
    """
    if _tracer is None:
        yield None
        return
    from opentelemetry import trace
    from opentelemetry.context import Context

    context: Context | None = extract(parent) if parent else (Context() if root else None)
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=_KINDS[kind],
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                current.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise


def failed(current: Span | None, reason: str) -> None:
    """Mark ``current`` as an error with a reason that is not secret (an error code, an exception's type)."""
    if current is None:
        return
    from opentelemetry import trace

    current.set_status(trace.Status(trace.StatusCode.ERROR, reason))


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` header value; None without one (or tracing off)."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def extract(value: str | None) -> Context:
    """The context a ``traceparent`` value names (an empty context when it is missing or malformed)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": value} if value else {})


def trace_id() -> str | None:
    """The current trace's id, 32 hex digits (for log lines); None when tracing is off or no span is current."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JsonLinesExporter:
    """Spans as JSON lines appended to a file, each written with one ``write`` of an ``O_APPEND`` descriptor (several
    processes may share the file). ``{pid}`` in the path names one file per process."""

    def __init__(self, path: str) -> None:
        self.path = path.replace("{pid}", str(os.getpid()))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult

        for one in spans:
            os.write(self._fd, (json.dumps(as_dict(one), separators=(",", ":")) + "\n").encode())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def as_dict(one: ReadableSpan) -> dict[str, Any]:
    """A finished span as plain data: the ids that link it, its name, kind, status, attributes and service."""
    context, parent = one.context, one.parent
    return {
        "name": one.name,
        "trace_id": format(context.trace_id, "032x") if context else None,
        "span_id": format(context.span_id, "016x") if context else None,
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "kind": one.kind.name.lower(),
        "status": one.status.status_code.name.lower(),
        "start_ns": one.start_time,
        "end_ns": one.end_time,
        "attributes": dict(one.attributes or {}),
        "service": (one.resource.attributes.get("service.name") if one.resource else None),
    }


def _kinds() -> dict[str, Any]:
    from opentelemetry.trace import SpanKind

    return {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER, "client": SpanKind.CLIENT}


class _LazyKinds(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        self.update(_kinds())
        return dict.__getitem__(self, key)


_KINDS = _LazyKinds()
