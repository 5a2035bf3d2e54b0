"""Every Prometheus series the studio exports, defined once (``prometheus-client``).

Each process (``studio serve``, ``studio worker``, ``studio scheduler``) holds one ``StudioMetrics`` in the module
global ``metrics``, on a registry of its own (not the library's global one, so nothing but ``studio_`` series is
exported). The code that changes state counts it right after its transaction commits: the run engine's final batch,
a start's insert, a claim, a model call's ledger row. Label values come from small fixed sets or pass through a
``BoundedLabel`` (at most so many distinct values, each short), so no client can grow a series without bound. Tenant
ids appear only in the ``studio_tenant_*`` series, which count only when ``STUDIO_METRICS_TENANT_LABELS=true``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["CONTENT_TYPE_LATEST", "BoundedLabel", "StudioMetrics", "metrics"]

OTHER = "other"
ANONYMOUS = "anonymous"
# Kinds of Run.trigger; anything else (a plugin's, a future one) is counted as "other".
TRIGGERS = frozenset({"manual", "webhook", "schedule", "message", "parent", "error"})
_LABEL_CHARS = re.compile(r"^[A-Za-z0-9_.:/-]+$")
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class BoundedLabel:
    """A label value from an open set (operation names, model names, node types): the first ``limit`` distinct
    values are kept as they are; later ones count as ``other``. A value longer than ``max_len`` keeps its start and
    a short hash; one with other characters than letters, digits and ``_.:/-`` counts as ``other``."""

    def __init__(self, limit: int, max_len: int = 64, empty: str = ANONYMOUS) -> None:
        self.limit, self.max_len, self.empty = limit, max_len, empty
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return self.empty
        if not _LABEL_CHARS.match(value):
            return OTHER
        if len(value) > self.max_len:
            digest = hashlib.sha256(value.encode()).hexdigest()[:8]
            value = f"{value[: self.max_len - 9]}~{digest}"
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


def status_class(status: int) -> str:
    """``2xx``, ``4xx``… of an HTTP status."""
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


def _mode(test: bool) -> str:
    return "test" if test else "live"


class StudioMetrics:
    """The series of one process. ``tenant_labels``: also count the ``studio_tenant_*`` series."""

    def __init__(self, registry: CollectorRegistry | None = None, *, tenant_labels: bool = False) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.tenant_labels = tenant_labels
        r = self.registry
        self.runs_started = Counter(
            "studio_runs_started_total",
            "Runs created (committed), by trigger kind and live or test.",
            ["trigger", "mode"],
            registry=r,
        )
        self.runs_finished = Counter(
            "studio_runs_finished_total",
            "Runs that reached a final status, counted by the transaction that ended them.",
            ["status", "trigger", "mode"],
            registry=r,
        )
        self.runs_retried = Counter(
            "studio_runs_retried_total",
            "Finished runs made live again by retryRun: each finishes (and is counted in runs_finished) once more.",
            registry=r,
        )
        self.tenant_runs_started = Counter(
            "studio_tenant_runs_started_total",
            "Runs created per tenant (only with STUDIO_METRICS_TENANT_LABELS=true).",
            ["tenant", "mode"],
            registry=r,
        )
        self.tenant_runs_finished = Counter(
            "studio_tenant_runs_finished_total",
            "Runs finished per tenant (only with STUDIO_METRICS_TENANT_LABELS=true).",
            ["tenant", "status", "mode"],
            registry=r,
        )
        self.step_duration = Histogram(
            "studio_step_duration_seconds",
            "Time from a step's start to its final status, by node type and status.",
            ["node_type", "status"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "studio_queue_depth", "QUEUED runs (at scrape time; capped by one bounded query).", registry=r
        )
        self.queue_oldest_age = Gauge(
            "studio_queue_oldest_age_seconds", "Age of the oldest QUEUED run (0 when none).", registry=r
        )
        self.runs_recovered = Counter(
            "studio_runs_recovered_total",
            "Runs a driver took over while RUNNING: the previous driver's lease expired or it handed the run over.",
            registry=r,
        )
        self.steps_interrupted = Counter(
            "studio_steps_interrupted_total",
            "Steps found RUNNING by a driver taking a run over (their driver stopped mid-step); run again.",
            ["node_type"],
            registry=r,
        )
        self.sweep_dispatches = Counter(
            "studio_sweep_dispatches_total",
            "Runs the sweep dispatched again: expired leases, due wake-ups, lost enqueues, held runs given a slot.",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "studio_webhook_deliveries_total",
            "POST /hooks/{id} deliveries by the status class of the answer.",
            ["outcome"],
            registry=r,
        )
        self.graphql_duration = Histogram(
            "studio_graphql_request_duration_seconds",
            "GraphQL operations over HTTP by operation name and outcome (ok, error, rejected).",
            ["operation", "outcome"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.subscriptions_open = Gauge(
            "studio_graphql_subscriptions_open", "GraphQL subscriptions open in this process.", registry=r
        )
        self.db_pool_checked_out = Gauge(
            "studio_db_pool_checked_out", "Database connections checked out of this process's pool.", registry=r
        )
        self.model_tokens = Counter(
            "studio_model_tokens_total",
            "Model tokens billed by llm.chat and agent steps, by model and kind (prompt, completion).",
            ["model", "kind"],
            registry=r,
        )
        self.operations = BoundedLabel(limit=200)
        self.models = BoundedLabel(limit=50, empty="unknown")
        self.node_types = BoundedLabel(limit=200, empty="unknown")

    # -- what the code calls --------------------------------------------------------------------------------

    def run_started(self, tenant_id: object, trigger: str, test: bool) -> None:
        mode = _mode(test)
        self.runs_started.labels(trigger if trigger in TRIGGERS else OTHER, mode).inc()
        if self.tenant_labels:
            self.tenant_runs_started.labels(str(tenant_id), mode).inc()

    def run_finished(self, tenant_id: object, status: str, trigger: str, test: bool) -> None:
        mode, status = _mode(test), str(status).lower()
        self.runs_finished.labels(status, trigger if trigger in TRIGGERS else OTHER, mode).inc()
        if self.tenant_labels:
            self.tenant_runs_finished.labels(str(tenant_id), status, mode).inc()

    def step_finished(self, node_type: str, status: str, seconds: float) -> None:
        self.step_duration.labels(self.node_types(node_type), str(status).lower()).observe(max(0.0, seconds))

    def tokens(self, model: str | None, prompt: int, completion: int) -> None:
        label = self.models(model)
        if prompt > 0:
            self.model_tokens.labels(label, "prompt").inc(prompt)
        if completion > 0:
            self.model_tokens.labels(label, "completion").inc(completion)

    def watch_pool(self, engine: AsyncEngine) -> None:
        """Read the checked-out connections of ``engine``'s pool (the process's main one) at each scrape."""
        checked_out: Callable[[], int] | None = getattr(engine.sync_engine.pool, "checkedout", None)
        if checked_out is not None:
            count = checked_out
            self.db_pool_checked_out.set_function(lambda: float(count()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


metrics = StudioMetrics()


def configure(*, tenant_labels: bool) -> StudioMetrics:
    """Apply a process's settings (a composition root calls this once, before serving)."""
    metrics.tenant_labels = tenant_labels
    return metrics


def serve_metrics(host: str, port: int) -> str:
    """Serve this process's series on ``http://host:port/metrics`` from a daemon thread (``studio worker`` and
    ``studio scheduler``); port 0 picks a free one. The URL it serves on."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{bound}/metrics"
