"""``digest webhooks``: the endpoints of ``WEBHOOK_URLS`` and what they got."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from worker.cli.common import console, fail, load, local_time, sessions_for
from worker.cli.tables import print_fitted
from worker.config import Settings, redact_url
from worker.deliver.webhook_post import post_test
from worker.deliver.webhooks import requeue
from worker.domain.webhooks import new_secret
from worker.ops.webhooks import EndpointState, webhook_overview

HOW = 'set WEBHOOK_URLS and WEBHOOK_SECRET (docs/operations.md, "Webhooks")'


@click.group()
def webhooks() -> None:
    """Signed webhooks out: the endpoints, their deliveries, a test."""


@webhooks.command("list")
def webhooks_list() -> None:
    """Each endpoint: its state, its deliveries (pending, failed, delivered),
    the oldest event still pending, its last error; a disabled one, since
    when and why."""
    settings = load()
    with sessions_for(settings)() as session:
        overview = webhook_overview(session, settings.webhook_urls)
    if not overview.endpoints:
        console.print(f"no webhook endpoints: {HOW}", markup=False, highlight=False)
        return
    table = Table(title="Webhook endpoints")
    for header in ("endpoint", "state", "pending", "failed", "delivered", "oldest pending"):
        table.add_column(header)
    table.add_column("last error")
    for state in overview.endpoints:
        table.add_row(
            escape(redact_url(state.url)),
            escape(_state(state, settings)),
            str(state.pending),
            str(state.failed),
            str(state.delivered),
            local_time(settings, state.oldest_pending) if state.oldest_pending else "",
            escape(state.last_error or ""),
        )
    print_fitted(console, table)
    if overview.waiting:
        console.print(f"{overview.waiting} events not yet fanned out to the endpoints")


@webhooks.command("retry")
@click.option("--endpoint", "url", help="Only this endpoint (a URL of WEBHOOK_URLS).")
@click.option(
    "--failed", is_flag=True, help="Also send again what was given up (a new day of retries)."
)
def webhooks_retry(url: str | None, failed: bool) -> None:
    """Enable disabled endpoints again (a 410 disabled them) and send their
    pending webhooks now, without waiting for the backoff; --failed also
    sends the failed ones again, if they are still kept (7 days)."""
    settings = load()
    if url is not None:
        _configured(settings, url)
    due, enabled = requeue(sessions_for(settings), endpoint_url=url, failed=failed)
    for shown in enabled:
        console.print(f"{shown}: enabled again", markup=False, highlight=False)
    console.print(f"{due} webhooks due now; a worker (or digest tick) sends them")


@webhooks.command("test")
@click.option("--endpoint", "url", help="Only this endpoint (a URL of WEBHOOK_URLS).")
def webhooks_test(url: str | None) -> None:
    """Send a webhook.test event to each endpoint now (disabled ones too)
    and print what each answered; exit 1 if one did not answer 2xx."""
    settings = load()
    urls = [_configured(settings, url)] if url is not None else list(settings.webhook_urls)
    if not urls:
        fail("no webhook endpoints to test", hint=HOW)
    failures = 0
    for target in urls:
        message_id, result = post_test(target, settings)
        said = f"HTTP {result.status}" if result.delivered else f"failed: {result.error}"
        line = f"{redact_url(target)}: {said} in {result.seconds:.2f} s ({message_id})"
        console.print(line, markup=False, highlight=False)
        if result.answer:
            console.print(f"  answer: {result.answer}", markup=False, highlight=False)
        failures += not result.delivered
    if failures:
        fail(
            f"{failures} of {len(urls)} endpoints did not accept the test",
            hint="an endpoint must answer 2xx within WEBHOOK_TIMEOUT; the lines above say "
            "what each did",
        )


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print a new random WEBHOOK_SECRET (whsec_ and a 32-byte key), for
    the worker's environment and the receiver's."""
    click.echo(new_secret())


def _configured(settings: Settings, url: str) -> str:
    if url not in settings.webhook_urls:
        fail(
            f"--endpoint: not one of WEBHOOK_URLS: {redact_url(url)}",
            hint="digest webhooks list shows the endpoints",
        )
    return url


def _state(state: EndpointState, settings: Settings) -> str:
    if state.disabled_at is not None:
        when = local_time(settings, state.disabled_at)
        return f"disabled {when}: {state.disabled_reason}"
    if not state.configured:
        return "not in WEBHOOK_URLS (nothing is sent to it)"
    return "active" if state.seen else "active (no worker has seen it yet)"
