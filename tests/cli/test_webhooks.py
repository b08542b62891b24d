"""``digest webhooks`` (list, retry, test, secret), the webhooks ``digest
tick`` sends in cron mode and those a ``digest worker`` process sends beside
its mail, to a receiver on loopback, on both stores."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import Result
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from tests.support.processes import stop
from tests.support.webhookreceiver import Receiver, receiving
from tests.support.webhooks import SECRET
from worker.domain.webhooks import secret_key


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving(SECRET)


@pytest.fixture
def digest(database_url: str, receiver: Receiver) -> CliRunnerCall:
    call = CliRunnerCall(database_url)
    call.env.update(
        {
            "WEBHOOK_URLS": receiver.url,
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_ALLOW_PRIVATE": "127.0.0.1",
        }
    )
    return call


def test_secret_prints_a_new_valid_secret(digest: CliRunnerCall) -> None:
    first, second = digest("webhooks", "secret"), digest("webhooks", "secret")
    assert first.output != second.output
    assert len(secret_key(first.output.strip())) == 32


def test_tick_sends_the_webhooks_of_a_change_made_from_the_cli(
    digest: CliRunnerCall, receiver: Receiver
) -> None:
    assert digest("subscribers", "add", "ops@example.org").exit_code == 0
    listed = digest("webhooks", "list")
    assert "active (no worker has seen it yet)" in listed.output

    receiver.script.append(503)
    assert "0 webhooks delivered, 1 to retry" in digest("tick").output
    # Not due for a while yet: retry makes what is pending due now.
    assert "2 webhooks due now" in digest("webhooks", "retry").output
    assert "2 webhooks delivered" in digest("tick").output
    assert [(r.event_type, r.verified, r.answered) for r in receiver.received] == [
        ("subscriber.created", True, 503),
        ("subscriber.created", True, 204),
        ("subscriber.confirmed", True, 204),
    ]
    listed = digest("webhooks", "list")
    assert f"{receiver.url}: state active; pending 0; failed 0; delivered 2" in listed.output


def test_test_sends_a_signed_test_event_and_says_what_came_back(
    digest: CliRunnerCall, receiver: Receiver
) -> None:
    done = digest("webhooks", "test")
    assert done.exit_code == 0, done.output
    (got,) = receiver.received
    assert (got.event_type, got.verified, got.data) == ("webhook.test", True, {"test": True})
    assert f"{receiver.url}: HTTP 204 in " in done.output and got.webhook_id in done.output

    receiver.stop()
    refused = digest("webhooks", "test", "--endpoint", receiver.url)
    assert f"{receiver.url}: failed: unreachable:" in refused.output
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "error: 1 of 1 endpoints did not accept the test",
        "hint: an endpoint must answer 2xx within WEBHOOK_TIMEOUT; the lines above say what "
        "each did",
    ]

    other = digest("webhooks", "test", "--endpoint", "https://else.example/hooks")
    assert other.stderr.splitlines() == [
        "error: --endpoint: not one of WEBHOOK_URLS: https://else.example/hooks",
        "hint: digest webhooks list shows the endpoints",
    ]


def test_list_shows_a_disabled_endpoint_and_why_and_retry_enables_it(
    digest: CliRunnerCall, receiver: Receiver
) -> None:
    digest("subscribers", "add", "gone@example.org")
    receiver.answer = 410
    digest("tick")
    listed = digest("webhooks", "list")
    assert f"{receiver.url}: state disabled " in listed.output
    assert "answered 410 Gone to msg_" in listed.output
    assert "pending 0; failed 2; delivered 0" in listed.output

    receiver.answer = 204
    retried = digest("webhooks", "retry", "--failed")
    assert f"{receiver.url}: enabled again" in retried.output
    assert "2 webhooks due now" in retried.output
    digest("tick")
    assert [r.event_type for r in receiver.accepted()] == [
        "subscriber.created",
        "subscriber.confirmed",
    ]


def test_list_without_endpoints_says_how_to_set_them(database_url: str) -> None:
    listed = CliRunnerCall(database_url)("webhooks", "list")
    assert listed.output.startswith("no webhook endpoints: set WEBHOOK_URLS and WEBHOOK_SECRET")


def test_a_bad_secret_stops_every_command_without_showing_it(database_url: str) -> None:
    call = CliRunnerCall(database_url)
    call.env.update(
        {"WEBHOOK_URLS": "https://site.example/hooks", "WEBHOOK_SECRET": "hunter2hunter2"}
    )
    refused = call("webhooks", "list")
    assert refused.exit_code == 1 and "hunter2" not in refused.output
    assert first_line(refused) == "error: WEBHOOK_SECRET: the value does not start with whsec_"
    call.env["WEBHOOK_SECRET"] = ""
    assert first_line(call("status")) == "error: WEBHOOK_SECRET: needed with WEBHOOK_URLS"
    call.env.update({"WEBHOOK_SECRET": SECRET, "WEBHOOK_URLS": "http://site.example/hooks"})
    assert first_line(call("status")) == (
        "error: WEBHOOK_URLS: 'http://site.example/hooks' is http to another machine: "
        "the events carry addresses, so https is needed"
    )


def first_line(result: Result) -> str:
    return result.stderr.splitlines()[0]


def test_a_worker_process_sends_webhooks_beside_its_mail(
    database_url: str, digest: CliRunnerCall, receiver: Receiver, sessions: sessionmaker[Session]
) -> None:
    env = {**os.environ, **digest.env, "LOG_FORMAT": "json"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--id", "w1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert digest("subscribers", "suppress", "spam@example.org").exit_code == 0
        (got,) = receiver.wait_for(1, timeout=60)
        assert (got.event_type, got.verified) == ("subscriber.suppressed", True)
        assert got.data == {"subscriber_id": None, "email": "spam@example.org", "reason": "manual"}
    finally:
        stop(worker)
    assert worker.returncode == 0
