"""``digest clock`` and ``digest tick``: the scheduler, and cron mode."""

import logging
import os
import sys
import threading

import click
from rich.markup import escape

from worker.cli.common import (
    check_before_sending,
    console,
    fail,
    finishing_on_signals,
    load,
    reports_errors,
    sending_backend,
    sessions_for,
)
from worker.now import process_now
from worker.schedule.clock import Clock, stopping_on_signals
from worker.schedule.jobs import tick as run_tick


@click.command()
@reports_errors
def clock() -> None:
    """The one scheduler: ingest, build, send, retry sweep and pruning at
    their times; a second clock waits until the first stops. SIGTERM or
    Ctrl-C stop it."""
    settings = load()
    check_before_sending(settings)  # the clock starts sends that workers make
    running = Clock(sessions_for(settings), settings)
    with stopping_on_signals(running):
        status = running.run()
    if running.busy:
        # A job still under way must not keep the process past a
        # platform's 25 seconds; its transaction is rolled back.
        logging.shutdown()
        os._exit(status)
    sys.exit(status)


@click.command()
@reports_errors
def tick() -> None:
    """Cron mode: do what is due now (ingest, build, start the send and
    send it, retries, pruning) and exit. Safe to run every minute, and
    twice at once."""
    settings = load()
    backend = sending_backend(settings)
    stop = threading.Event()
    with finishing_on_signals(stop):
        report = run_tick(sessions_for(settings), settings, backend, process_now(), stop=stop)
    done = []
    if report.ingested is not None:
        feeds = report.ingested.feeds
        done.append(f"{len(feeds)} feeds ingested ({report.ingested.new} new launches)")
    done += [f"{built.week} built ({built.status})" for built in report.built]
    if report.started is not None:
        done.append(f"{report.started.week} sending")
    if report.waiting:
        done.append(f"send waits: {report.waiting}")
    if report.sent:
        done.append(f"{report.sent} sent")
    done += [f"{week} sent in full" for week in report.finished]
    if report.pruned:
        done.append(f"{report.pruned} old fetch log rows pruned")
    console.print(escape("; ".join(done) or "nothing due"), highlight=False)
    if report.failed:
        fail("; ".join(report.failed))
