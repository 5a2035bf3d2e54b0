"""``studio serve``'s HTTP server: uvicorn, with a stop that shares one grace and cannot hang."""

from __future__ import annotations

import asyncio
import math
import sys
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from studio_shared import shutdown
from studio_shared.settings import Settings


class StoppableServer(uvicorn.Server):
    """uvicorn's server, whose stop request (SIGTERM, SIGINT) also starts the process's exit deadline
    (``studio_shared.shutdown``) and tells the embedded engine, if any, to start no new step."""

    def __init__(self, config: uvicorn.Config, app: Starlette, grace_s: float) -> None:
        super().__init__(config)
        self.app, self.grace_s = app, grace_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        try:  # the signal is handled on the loop (uvloop, asyncio) once it runs; before that, there is none
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if shutdown.arm(self.grace_s, "studio serve", loop=loop) and loop is not None:
            state = getattr(self.app.state, "studio", None)
            if state is not None and state.run_engine is not None:
                loop.call_soon_threadsafe(state.run_engine.draining.set)
        super().handle_exit(sig, frame)


def run_server(app: Starlette, settings: Settings, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM or SIGINT. Open requests (a webhook's ``?wait=``, a download) get the shutdown
    grace and are then cancelled; the embedded engine's drain shares that grace (``shutdown.remaining``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        ws="websockets-sansio",
        # uvicorn's loggers propagate to the root handler `studio serve` installed (JSON lines or text)
        log_config=None,
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace_s)),
    )
    server = StoppableServer(config, app, settings.shutdown_grace_s)
    server.run()
    if not server.started:  # the port was taken, or the app's start-up failed (logged): as uvicorn.run
        sys.exit(STARTUP_FAILURE)


STARTUP_FAILURE = 3  # uvicorn.main.STARTUP_FAILURE (not exported)
