"""The typed run-event contract end to end: every EventKind goes from the worker's record to a stored row and a bus
message, out through GraphQL as a RunEventKind, and parses back to the same kind, with `final` said in one place."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from strawberry.types.enum import StrawberryEnumDefinition

from studio_gql.schema import build_schema
from studio_gql.schema.runs import RunEvent
from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.events import Event, EventKind
from studio_shared.events.contract import FINAL_EVENT_KINDS
from studio_shared.rbac import Role
from studio_shared.types import FINAL_RUN_STATUSES, RunStatus
from studio_worker.engine.records import EventRecord, bus_messages
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, run_once

pytestmark = pytest.mark.usefixtures("workers")

EVENTS = """query($id: ID!, $after: Int) {
  run(id: $id) { events(afterSeq: $after, first: 100) { seq runId kind stepId status final data } }
}"""
FIRST = 1000  # the seqs of the test's rows, past the run's own events


def _record(tenant_id: uuid.UUID, run_id: uuid.UUID, index: int, kind: EventKind) -> EventRecord:
    status = RunStatus.SUCCEEDED if kind.final else RunStatus.RUNNING
    step_id = None if kind.run_level else "a"
    return EventRecord(tenant_id, run_id, FIRST + index, kind, step_id, status, utcnow(), {"index": index})


async def test_every_kind_round_trips_worker_to_row_to_graphql_and_back(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient
) -> None:
    done = await run_once(state, tenant, chain({"id": "a", "type": "transform", "config": {"value": 1}}))
    records = [_record(tenant.id, done.run.id, i, kind) for i, kind in enumerate(EventKind)]
    async with state.sessions.begin() as s:
        await s.execute(sa.insert(models.RunEvent), [r.row() for r in records])
        stored = list(
            await s.scalars(
                sa.select(models.RunEvent.kind)
                .where(models.RunEvent.run_id == done.run.id, models.RunEvent.seq >= FIRST)
                .order_by(models.RunEvent.seq)
            )
        )
    assert stored == [k.value for k in EventKind], "the column keeps the wire values (run.queued, step.succeeded…)"

    data = await gql.data(EVENTS, {"id": str(done.run.id), "after": FIRST - 1}, tenant.token(Role.VIEWER))
    served = data["run"]["events"]
    assert [EventKind[e["kind"]] for e in served] == list(EventKind), "GraphQL serves every kind by its name"
    assert [e["final"] for e in served] == [k in FINAL_EVENT_KINDS for k in EventKind]
    assert [e["stepId"] is None for e in served] == [k.run_level for k in EventKind]

    # The live path: the bus message (as JSON) parses back to the same event, and to the same GraphQL event.
    run_channel_messages = [m for _, m in bus_messages(records) if "events" in m]
    [batch] = run_channel_messages
    for record, message in zip(records, json.loads(json.dumps(batch["events"])), strict=True):
        parsed = Event.from_message(message)
        assert parsed == Event(
            record.tenant_id,
            record.run_id,
            record.seq,
            record.kind,
            record.step_id,
            record.status,
            record.at,
            record.data,
        )
        assert type(parsed.kind) is EventKind
        live = RunEvent.from_message(message)
        assert (live.kind, live.final) == (record.kind, record.final)


async def test_stored_events_of_real_runs_parse_and_only_the_last_is_final(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient
) -> None:
    """Kinds written by the engine itself (not by the test) come back through GraphQL, final only at the end."""
    done = await run_once(state, tenant, chain({"id": "a", "type": "transform", "config": {"value": 1}}))
    data = await gql.data(EVENTS, {"id": str(done.run.id), "after": 0}, tenant.token(Role.VIEWER))
    kinds = [EventKind[e["kind"]] for e in data["run"]["events"]]
    assert kinds[0] is EventKind.RUN_QUEUED and kinds[-1] is EventKind.RUN_SUCCEEDED
    assert EventKind.STEP_SUCCEEDED in kinds
    assert [e["final"] for e in data["run"]["events"]] == [False] * (len(kinds) - 1) + [True]


def test_the_graphql_enum_is_the_contract() -> None:
    """One place: the SDL's RunEventKind has exactly the contract's members, named after their wire values."""
    enum = build_schema().get_type_by_name("RunEventKind")
    assert isinstance(enum, StrawberryEnumDefinition)
    assert [v.name for v in enum.values] == [k.name for k in EventKind]
    for kind in EventKind:
        assert kind.name == kind.value.upper().replace(".", "_"), kind
        assert kind.run_level == kind.value.startswith("run.")


def test_a_run_ends_with_the_event_of_its_final_status_and_only_those_are_final() -> None:
    assert {EventKind.run_finished(s) for s in FINAL_RUN_STATUSES} == FINAL_EVENT_KINDS
    with pytest.raises(KeyError):
        EventKind.run_finished(RunStatus.RUNNING)
    tenant, run = uuid.uuid4(), uuid.uuid4()
    at = utcnow()
    retried = Event(tenant, run, 9, EventKind.RUN_RETRIED, None, RunStatus.QUEUED, at + timedelta(seconds=1), None)
    assert not retried.final and retried.message()["final"] is False
    failed = Event(tenant, run, 8, EventKind.RUN_FAILED, None, RunStatus.FAILED, at, None)
    assert failed.final and failed.message()["final"] is True


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"kind": "run.exploded"}, "not a valid EventKind"),
        ({"kind": "STEP_SUCCEEDED"}, "not a valid EventKind"),  # the GraphQL name is not a wire value
        ({"seq": "x"}, "invalid literal"),
    ],
)
def test_a_message_outside_the_contract_is_refused(message: dict[str, object], why: str) -> None:
    good = Event(uuid.uuid4(), uuid.uuid4(), 1, EventKind.STEP_STARTED, "a", "RUNNING", utcnow(), None).message()
    with pytest.raises(ValueError, match=why):
        Event.from_message({**good, **message})
