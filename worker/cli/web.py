"""``digest web``: the subscriber app on this machine."""

import click
from werkzeug.serving import run_simple

from subscribers.web import create_app
from worker.cli.common import (
    console,
    load,
    reports_errors,
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, help="Port to listen on.")
@reports_errors
def web(host: str, port: int) -> None:
    """Serve the subscriber web app on this machine (for trying it out; in
    production gunicorn serves it, see the Procfile)."""
    settings = load()
    console.print(f"subscriber pages at http://{host}:{port}/ (Ctrl-C stops)")
    run_simple(host, port, create_app(settings), threaded=True)
