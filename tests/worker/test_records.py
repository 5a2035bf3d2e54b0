"""How committed events are published: one message per run and commit on the run's channel."""

from __future__ import annotations

import uuid

from studio_shared.db.types import utcnow
from studio_shared.events import EventKind, channels
from studio_worker.engine.records import EventRecord, bus_messages


def test_one_message_per_run_with_its_events_in_order_and_run_events_on_the_tenant_channel() -> None:
    tenant, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    records = [
        EventRecord(tenant, first, 2, EventKind.RUN_STARTED, None, "RUNNING", now, None),
        EventRecord(tenant, first, 3, EventKind.STEP_SUCCEEDED, "a", "SUCCEEDED", now, {"output": 1}),
        EventRecord(tenant, second, 5, EventKind.STEP_STARTED, "b", "RUNNING", now, None),
        EventRecord(tenant, first, 4, EventKind.RUN_SUCCEEDED, None, "SUCCEEDED", now, None),
    ]
    items = bus_messages(records)
    by_channel: dict[str, list[dict[str, object]]] = {}
    for channel, message in items:
        by_channel.setdefault(channel, []).append(message)
    [first_batch] = by_channel[channels.run(tenant, first)]
    assert [e["seq"] for e in first_batch["events"]] == [2, 3, 4]  # type: ignore[index]
    assert first_batch["events"][-1]["final"] is True  # type: ignore[index]
    [second_batch] = by_channel[channels.run(tenant, second)]
    assert [e["kind"] for e in second_batch["events"]] == ["step.started"]  # type: ignore[index]
    tenant_kinds = [m["kind"] for m in by_channel[channels.tenant_runs(tenant)]]
    assert tenant_kinds == ["run.started", "run.succeeded"], "only run-level events reach the tenant channel"
    assert len(items) == 4
