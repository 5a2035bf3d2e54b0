"""``python -m studio_client``: the ``studio-cli`` command."""

from studio_client.cli import run

run()
