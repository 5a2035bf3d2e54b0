"""What a process imports at start is memory it holds for its whole life (issue 22's bound: worker <= 120 MiB, API <=
150 MiB under load). Heavy libraries that only some workflows need are imported by the first step that needs them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

PROCESS = """
import sys
from studio_shared.settings import Settings
import studio_gql.app, studio_gql.cli, studio_worker.jobs, studio_worker.host, studio_worker.scheduler
from studio_worker.nodes.plugins import load_catalog

catalog = load_catalog(Settings())  # every node type, as a worker and the API load them
lazy = ("mcp", "mini_racer", "py_mini_racer", "aioboto3", "boto3", "openai", "hypothesis")
print(" ".join(sorted({name.split(".")[0] for name in sys.modules} & set(lazy))))
"""


def test_a_process_start_imports_no_library_that_only_some_steps_need() -> None:
    """The MCP SDK (its models cost 32 MiB), V8, the S3 client: imported by the step, session or store that uses
    them, never by starting `studio serve`, `studio worker` or `studio scheduler`."""
    done = subprocess.run(  # noqa: S603 - a script of this test
        [sys.executable, "-c", textwrap.dedent(PROCESS)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at start: {done.stdout.strip()}"
