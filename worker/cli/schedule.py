"""``digest clock`` and ``digest tick``: the scheduler, and cron mode."""

import logging
import os
import sys

import click
from rich.markup import escape

from worker.cli.common import (
    check_before_sending,
    console,
    errors,
    finishing_on_signals,
    load,
    ready_sessions,
    sending_backend,
)
from worker.domain.words import plural
from worker.now import process_now
from worker.schedule.clock import Clock
from worker.schedule.jobs import tick as run_tick
from worker.signals import stopping_on_signals


@click.command()
def clock() -> None:
    """The one scheduler: ingest, build, send, retry sweep and pruning at
    their times; a second clock waits until the first stops. SIGTERM or
    Ctrl-C stop it."""
    settings = load()
    check_before_sending(settings)  # the clock starts sends that workers make
    running = Clock(ready_sessions(settings), settings)
    with stopping_on_signals(running.told, running.stop):
        status = running.run()
    if running.busy:
        # A job still under way must not keep the process past a
        # platform's 25 seconds; its transaction is rolled back.
        logging.shutdown()
        os._exit(status)
    sys.exit(status)


@click.command()
def tick() -> None:
    """Cron mode: do what is due now (ingest, build, start the send and
    send it, retries, pruning, webhooks) and exit. Safe to run every minute, and
    twice at once."""
    settings = load()
    backend = sending_backend(settings)
    sessions = ready_sessions(settings)
    with finishing_on_signals() as stop:
        report = run_tick(sessions, settings, backend, process_now(), stop=stop)
    done = []
    problems = list(report.failed)
    if report.ingested is not None:
        ingested = report.ingested
        fetched = len(ingested.feeds) - ingested.errors
        done.append(
            f"{plural(fetched, 'feed')} ingested ({plural(ingested.new, 'new launch')})"
            + (f", {plural(ingested.errors, 'feed')} failed" if ingested.errors else "")
        )
        problems += [f"ingest: {f.error}" for f in ingested.feeds if f.status == "error"]
    done += [f"{built.week} built ({built.status})" for built in report.built]
    if report.started is not None:
        done.append(f"{report.started.week} sending")
    if report.waiting:
        done.append(f"send waits: {report.waiting}")
    if report.sent:
        done.append(f"{report.sent} sent")
    if report.webhooks is not None and report.webhooks.attempts:
        hooks = report.webhooks
        done.append(
            f"{plural(hooks.delivered, 'webhook')} delivered"
            + (f", {hooks.retrying} to retry" if hooks.retrying else "")
            + (f", {hooks.given_up} given up" if hooks.given_up else "")
        )
    done += [f"{week} sent in full" for week in report.finished]
    if report.pruned:
        done.append(f"{plural(report.pruned, 'old fetch log row')} pruned")
    if done or not problems:
        console.print(escape("; ".join(done) or "nothing due"), highlight=False)
    for problem in problems:
        errors.print(f"[bold red]error:[/] {escape(problem)}", markup=True, highlight=False)
    # As `digest ingest`: 1 when a job failed, 2 when only feeds did (a feed
    # that is down is the feed's problem, not the worker's).
    if problems:
        sys.exit(1 if report.failed else 2)
