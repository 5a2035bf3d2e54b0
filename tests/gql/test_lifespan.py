"""The app's lifespan: what it opens, it closes in reverse order, on the way out and when a later part fails to start."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from studio_gql import app as app_module
from studio_gql.app import create_app
from studio_gql.routes import hooks
from studio_shared.settings import Settings
from studio_worker import host


class Ledger:
    """Records the resources a lifespan makes (through the factories it calls) and the order they are closed in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.opened: dict[str, object] = {}
        self.closed: list[str] = []

    def watch(self, module: ModuleType, factory: str, name: str, closing: str = "close") -> None:
        real: Callable[..., Any] = getattr(module, factory)

        def make(*args: Any, **kwargs: Any) -> Any:
            made = real(*args, **kwargs)
            self.opened[name] = made
            self._spy(type(made), closing)
            return made

        self.monkeypatch.setattr(module, factory, make)

    def _spy(self, cls: type, closing: str) -> None:
        real = getattr(cls, closing)

        async def close(this: object, *args: Any, **kwargs: Any) -> Any:
            self.closed.extend(name for name, made in self.opened.items() if made is this)
            return await real(this, *args, **kwargs)

        self.monkeypatch.setattr(cls, closing, close)


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Ledger:
    ledger = Ledger(monkeypatch)
    ledger.watch(app_module, "create_engine", "engine", closing="dispose")
    ledger.watch(app_module, "RateLimiter", "limiter")
    ledger.watch(app_module, "store_from_settings", "store")
    ledger.watch(app_module, "event_bus_from", "bus")
    ledger.watch(host, "job_queue_from", "queue")
    ledger.watch(host, "RunEngine", "run_engine")
    ledger.watch(host, "Scheduler", "scheduler")
    return ledger


def _all_closed(settings: Settings) -> list[str]:
    """Everything the lifespan opens, in the order it must close them: the reverse of the order it opened them."""
    embedded = settings.redis_url is None  # the process is also the worker pool and the scheduler
    worker = ["scheduler", "queue", "run_engine"] if embedded else ["queue"]
    return [*worker, "bus", "store", "limiter", "engine"]


async def test_the_lifespan_closes_everything_it_opened_in_reverse_order(settings: Settings, ledger: Ledger) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert ledger.closed == []
    assert ledger.closed == _all_closed(settings)


class StartFailed(Exception):
    pass


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise StartFailed("a part failed to start (test)")


async def _fail_async(*args: Any, **kwargs: Any) -> Any:
    raise StartFailed("a part failed to start (test)")


async def test_a_failure_after_everything_started_closes_all_of_it(
    settings: Settings, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks, "EndpointCache", _fail)  # the last thing the lifespan builds before it serves
    app = create_app(settings)
    with pytest.raises(StartFailed):
        async with app.router.lifespan_context(app):
            pytest.fail("the app served although its start-up failed")
    assert ledger.closed == _all_closed(settings)


async def test_a_queue_that_fails_to_start_closes_what_was_opened_before_it(
    settings: Settings, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = host.job_queue_from

    def failing_queue(s: Settings) -> Any:
        queue = real(s)
        monkeypatch.setattr(type(queue), "start", _fail_async)
        return queue

    monkeypatch.setattr(host, "job_queue_from", failing_queue)  # the ledger's factory inside: still recorded
    app = create_app(settings)
    with pytest.raises(StartFailed):
        async with app.router.lifespan_context(app):
            pytest.fail("the app served although its start-up failed")
    before = ["run_engine"] if settings.redis_url is None else []  # the embedded engine starts before its queue
    assert ledger.closed == [*before, "bus", "store", "limiter", "engine"]
    assert "queue" in ledger.opened and "scheduler" not in ledger.opened


async def test_a_bus_that_fails_to_start_closes_the_database_engine_store_and_limiter(
    settings: Settings, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = app_module.event_bus_from

    def failing_bus(url: str | None) -> Any:
        bus = real(url)
        monkeypatch.setattr(type(bus), "start", _fail_async)
        return bus

    monkeypatch.setattr(app_module, "event_bus_from", failing_bus)  # the ledger's factory inside: still recorded
    app = create_app(settings)
    with pytest.raises(StartFailed):
        async with app.router.lifespan_context(app):
            pytest.fail("the app served although its start-up failed")
    assert ledger.closed == ["store", "limiter", "engine"]
    assert "queue" not in ledger.opened
