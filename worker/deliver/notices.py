"""One-off messages to one person, sent at once through the configured mail
backend: the confirmation of a subscription, a note that an address is
already subscribed, a subscriber's vote link asked for on the site, and the
welcome: the welcome copy above the latest edition.

They go through the digest's own pipeline (templates/email, mjml-python,
the composer, the mail backend), so they look and encode like the digest.
"""

from __future__ import annotations

from collections.abc import Callable

from worker.compose.links import recipient_links
from worker.compose.message import Recipient, SegmentParts, compose_message, compose_notice
from worker.config import Settings, refuse_development_key
from worker.deliver.welcome import LatestSegment
from worker.domain.digest import Notice
from worker.domain.editorial import WelcomeCopy
from worker.domain.tokens import (
    CONFIRM_WINDOW,
    DAY,
    MAX_AGE,
    Purpose,
    make_token,
    subscriber_payload,
)
from worker.domain.verdicts import Verdict
from worker.errors import MailError
from worker.mail import OutgoingMessage, SendResult, backend_from_url
from worker.mail.base import Outcome
from worker.now import process_now
from worker.render.renderer import Renderer
from worker.render.welcome import LatestEdition


class NoticeNotSent(MailError):
    """The mail backend answered a notice with something other than
    accepted; ``result`` is its answer."""

    def __init__(self, message_id: str, result: SendResult, *, hint: str = "") -> None:
        self.message_id = message_id
        self.result = result
        answer = " ".join(str(part) for part in (result.outcome, result.code, result.text) if part)
        super().__init__(f"{answer}, message {message_id}", hint=hint)


def confirm_notice(settings: Settings, subscriber_id: int, email: str) -> Notice:
    """The double opt-in message: one link that confirms ``email``."""
    token = make_token(settings, Purpose.CONFIRM, [subscriber_id, email])
    return Notice(
        subject=f"Confirm your subscription to {settings.list_name}",
        preheader="One click and the weekly verdicts are on their way.",
        heading="Please confirm your subscription",
        paragraphs=(
            f"Someone, hopefully you, asked to receive {settings.list_name} at {email}.",
            "Confirm with the button below and the next edition comes to this address.",
        ),
        action_label="Yes, subscribe me",
        action_url=f"{settings.site_url.rstrip('/')}/confirm/{token}",
        footnote=(
            "If you did not ask for this, ignore this email: "
            "nothing is sent to you unless you confirm. "
            f"The link works for {CONFIRM_WINDOW.days} days."
        ),
    )


def already_notice(settings: Settings, subscriber_id: int, email: str) -> Notice:
    """For a subscribe request of an address that is subscribed already: no
    change, a way to the preferences instead."""
    links = recipient_links(settings, subscriber_id, process_now())
    return Notice(
        subject=f"You are already subscribed to {settings.list_name}",
        preheader="Nothing changed; your preferences are one click away.",
        heading="You are already subscribed",
        paragraphs=(
            f"Someone asked to subscribe {email} to {settings.list_name}; "
            "it is subscribed already, so nothing changed.",
            "To change which categories you get, or to pause for a while, open your preferences.",
        ),
        action_label="Open my preferences",
        action_url=links.preferences_url,
    )


def vote_notice(
    settings: Settings, subscriber_id: int, tool_name: str, tool_slug: str, verdict: Verdict
) -> Notice:
    """A subscriber's own vote link, asked for on the site (where no link
    names the voter): the vote page it opens records the vote."""
    token = make_token(settings, Purpose.VOTE, subscriber_payload(subscriber_id, settings.list_id))
    label = "Ship it" if verdict == Verdict.SHIP else "Skip it"
    name = " ".join(tool_name.split())  # one line, as a Subject must be
    return Notice(
        subject=f"Your vote on {name}: {label}",
        preheader="One more click records it.",
        heading=f"{label}: record your vote",
        paragraphs=(
            f"Someone, hopefully you, asked on our site to vote “{label}” on {name}.",
            "Open the link and press the button to record it; a later vote replaces it. "
            "Votes make the Community row of the verdict tables.",
        ),
        action_label=f"Vote “{label}”",
        action_url=f"{settings.site_url.rstrip('/')}/vote/{token}/{tool_slug}/{verdict.value}",
        footnote=(
            "If you did not ask for this, ignore this email: no vote counts unless you "
            f"press the button. The link works for {MAX_AGE[Purpose.VOTE] // DAY} days."
        ),
    )


def send_notice(
    settings: Settings, renderer: Renderer, notice: Notice, recipient: Recipient
) -> None:
    """Render ``notice``, compose it for ``recipient`` and send it; raises
    :class:`NoticeNotSent` if it is not accepted, MailError if the backend
    cannot be reached."""
    rendered = renderer.render_notice(notice, settings.list_name, settings.postal_address)
    parts = SegmentParts(rendered.subject, rendered.html, rendered.text)
    _send(settings, lambda fields: compose_notice(parts, recipient, settings, with_fields=fields))


def send_welcome(
    settings: Settings,
    renderer: Renderer,
    recipient: Recipient,
    copy: WelcomeCopy,
    latest: LatestSegment | None,
) -> None:
    """Send a newly confirmed subscriber the welcome: ``copy`` (from
    :func:`worker.deliver.welcome_copy.current_welcome`) above the latest
    edition (from :func:`worker.deliver.welcome.latest_segment`) as a
    delivery of it, or alone when there is none; with their own links.
    Raises as :func:`send_notice` does."""
    shown = None if latest is None else LatestEdition(latest.parts.html, latest.parts.text)
    rendered = renderer.render_welcome(copy, settings.list_name, settings.postal_address, shown)
    parts = SegmentParts(rendered.subject, rendered.html, rendered.text)
    if latest is None:
        _send(
            settings,
            lambda fields: compose_notice(
                parts, recipient, settings, with_fields=fields, on_list=True
            ),
        )
        return
    _send(
        settings,
        lambda fields: compose_message(
            parts,
            recipient,
            latest.edition,
            settings,
            now=process_now(),
            with_fields=fields,
        ),
    )


def _send(settings: Settings, compose: Callable[[bool], OutgoingMessage]) -> None:
    """Compose (with the parts an email API wants, if it wants them) and
    send; the caller reports a failure (logs it, or tells the operator)."""
    refuse_development_key(settings, f"mailing notices for {settings.site_url}")
    with backend_from_url(settings.mail_url) as backend:
        message = compose(backend.wants_fields)
        result = backend.send_batch([message])[0]
    if result.outcome != Outcome.ACCEPTED:
        raise NoticeNotSent(message.message_id, result)
