"""``digest worker``: a delivery worker process."""

import logging
import os
import socket
import time

import click

from worker.cli.common import (
    console,
    finishing_on_signals,
    load,
    ready_sessions,
    sending_backend,
)
from worker.deliver.progress import SendProgress
from worker.deliver.results import SendReport
from worker.deliver.runner import Worker
from worker.deliver.webhooks import WebhookSender


@click.command()
@click.option("--id", "worker_id", help="Worker name in leases; default host:pid.")
@click.option("--once", is_flag=True, help="Exit when nothing is left to claim.")
def worker(worker_id: str | None, once: bool) -> None:
    """Claim and send deliveries of sending editions until stopped (SIGTERM
    or Ctrl-C finish the batch in hand first)."""
    settings = load()
    name = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    log = logging.getLogger("worker.deliver")
    # A line every half minute: the record a platform's log keeps.
    meter = SendProgress(time.monotonic(), every=30)

    def progress(report: SendReport) -> None:
        now = time.monotonic()
        if meter.due(now):
            log.info(
                "worker progress",
                extra={
                    "worker": name,
                    "sent": report.sent,
                    "rate": round(meter.rate(report.sent, now), 1),
                    "deferred": report.deferred,
                    "failed": report.failed,
                    "suppressed": report.suppressed,
                },
            )

    backend = sending_backend(settings)
    sessions = ready_sessions(settings)
    # Webhooks (WEBHOOK_URLS) go out from a thread of their own, beside the mail.
    with finishing_on_signals() as stop, WebhookSender(sessions, settings, name):
        running = Worker(sessions, settings, backend, name, on_batch=progress, stop=stop)
        # Logged once the handlers are in place: what a test or an operator waits for.
        log.info("worker started", extra={"worker": name})
        report = running.run(until_idle=once)
    console.print(
        f"worker {name}: {report.sent} sent, {report.deferred} deferred, "
        f"{report.failed} failed, {report.suppressed} suppressed in {report.batches} batches"
    )
