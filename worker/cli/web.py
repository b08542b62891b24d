"""``digest web``: the subscriber app on this machine."""

import os
import socket
import threading

import click
from werkzeug.serving import make_server

from subscribers.web import create_app
from subscribers.web.tokenlog import MaskingRequestHandler
from worker.cli.common import (
    console,
    load,
)
from worker.errors import ConfigError
from worker.signals import stopping_on_signals


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=5000, show_default=True, help="Port to listen on (0: any free one)."
)
def web(host: str, port: int) -> None:
    """Serve the subscriber web app on this machine (for trying it out; in
    production gunicorn serves it, see the Procfile)."""
    settings = load()
    app = create_app(settings)
    try:
        # Bound here, not by Werkzeug, which prints its own lines and exits.
        listening = socket.create_server((host, port))
    except OSError as error:  # the port taken, or an address not of this machine
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigError(
            f"--host {host} --port {port}: cannot listen there: {reason}",
            hint="another process may have the port; pick another with --port",
        ) from None
    # Its request log masks link tokens (/u/***): they are credentials.
    server = make_server(
        host,
        port,
        app,
        threaded=True,
        request_handler=MaskingRequestHandler,
        fd=listening.fileno(),
    )
    # Served from a thread: the main thread waits for a stop signal, the one
    # wait a signal always wakes (worker.signals).
    serving = threading.Thread(target=server.serve_forever, name="web-http", daemon=True)
    with stopping_on_signals() as stop:
        serving.start()
        console.print(f"subscriber pages at http://{host}:{server.port}/ (Ctrl-C stops)")
        stop.wait()
    server.shutdown()
    server.server_close()
    console.print("web stopped")
