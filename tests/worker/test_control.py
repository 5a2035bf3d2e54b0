"""The control's own behaviour around its writes: what it says when the bus fails after a commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.events import EventBus
from studio_shared.types import RunStatus
from tests.conftest import TenantFixture
from tests.worker.engine_harness import chain, publish, wait_for
from tests.worker.test_nodes_io import node

pytestmark = pytest.mark.usefixtures("workers")


class _PublishFails:
    """The control's bus, except that every publish fails as a Redis outage would."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.attempts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)

    async def publish_many(self, items: Sequence[tuple[str, Any]]) -> None:
        self.attempts += 1
        raise ConnectionError("bus away (test)")


async def test_a_failed_publish_after_the_commit_is_logged_and_the_start_stands(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workflow_id = await publish(state, tenant, chain(node("a", "transform", value=1)))
    failing = _PublishFails(state.control.bus)
    monkeypatch.setattr(state.control, "bus", failing)
    with caplog.at_level(logging.WARNING, logger="studio.control"):
        run, created = await state.control.start_run(tenant.id, "test", workflow_id)
    assert created and failing.attempts == 1
    (record,) = [r for r in caplog.records if r.name == "studio.control" and "publish failed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("1 events are committed")
    assert record.exc_info is not None and isinstance(record.exc_info[1], ConnectionError)
    monkeypatch.undo()
    finished = await wait_for(state, tenant.id, run.id)  # the run was committed and dispatched all the same
    assert finished.run.status == RunStatus.SUCCEEDED
