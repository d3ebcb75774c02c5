"""The `mediagate` command: serve, admin … (and the client commands)."""

from __future__ import annotations

import click

from mediagate import __version__
from mediagate.cli.admin import admin
from mediagate.cli.client import account, batch, generate, models, tasks
from mediagate.cli.server import serve, worker


@click.group()
@click.version_option(__version__, prog_name="mediagate")
def cli() -> None:
    """mediagate: one API for video, image, speech and avatar generation."""


cli.add_command(serve)
cli.add_command(worker)
cli.add_command(admin)
cli.add_command(generate)
cli.add_command(tasks)
cli.add_command(models)
cli.add_command(account)
cli.add_command(batch)


def main() -> None:
    cli()
