"""Typed SQLAlchemy 2.0 models: the one schema every part of the flow shares.

Timestamps are timezone-aware and stored in UTC. Enumerated values are kept as
short strings with CHECK constraints, so SQLite and PostgreSQL hold the same
thing and migrations stay plain.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    exists,
    or_,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.domain.suppression import IntakeKind, SuppressionReason
from worker.domain.verdicts import Seat, Verdict
from worker.domain.webhooks import WebhookStatus
from worker.now import process_now


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored as UTC on every backend.

    SQLite has no time zones; without this, values read back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime}


def _choices(name: str, column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class Feed(Base):
    """A feed of tool launches and its conditional-GET state."""

    __tablename__ = "feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_fetched_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(default=0)

    tools: Mapped[list[Tool]] = relationship(back_populates="feed")


class Tool(Base):
    """An AI tool: launched on a date, reviewed by the panel, voted on."""

    __tablename__ = "tool"
    # An entry is its feed's: two feeds may publish one guid (0008).
    __table_args__ = (UniqueConstraint("feed_id", "guid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    vendor: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    tagline: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)  # sanitised HTML
    entry_price: Mapped[str | None] = mapped_column(String(50))
    url: Mapped[str | None] = mapped_column(String(2048))
    # Dedupe keys for ingested launches: the entry's guid within its feed,
    # then its canonical URL across all feeds.
    guid: Mapped[str | None] = mapped_column(String(2048))
    canonical_url: Mapped[str | None] = mapped_column(String(2048), unique=True)
    launched_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feed.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)
    # Set by an editor (digest content hide): the launch is in no unsent edition.
    hidden_at: Mapped[dt.datetime | None]

    feed: Mapped[Feed | None] = relationship(back_populates="tools")
    reviews: Mapped[list[Review]] = relationship(
        back_populates="tool", cascade="all, delete-orphan", order_by="Review.position"
    )


class Review(Base):
    """One panel reviewer's card on one tool."""

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("tool_id", "seat"),
        _choices("seat", "seat", Seat),
        _choices("verdict", "verdict", Verdict),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tool.id", ondelete="CASCADE"))
    seat: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)  # the seat's order on the panel
    verdict: Mapped[str] = mapped_column(String(10))
    quote: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(200))

    tool: Mapped[Tool] = relationship(back_populates="reviews")


class Comparison(Base):
    """Two or more tools side by side under a title."""

    __tablename__ = "comparison"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    # Where its title links, when the content file gives it (else
    # COMPARE_URL, else the subscriber app's /compare/<slug>).
    url: Mapped[str | None] = mapped_column(String(2048))
    # Set by an editor (digest content hide): in no unsent edition.
    hidden_at: Mapped[dt.datetime | None]

    entries: Mapped[list[ComparisonTool]] = relationship(
        back_populates="comparison",
        cascade="all, delete-orphan",
        order_by="ComparisonTool.position",
    )


class ComparisonTool(Base):
    """A tool's column in a comparison."""

    __tablename__ = "comparison_tool"

    comparison_id: Mapped[int] = mapped_column(
        ForeignKey("comparison.id", ondelete="CASCADE"), primary_key=True
    )
    tool_id: Mapped[int] = mapped_column(
        ForeignKey("tool.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)

    comparison: Mapped[Comparison] = relationship(back_populates="entries")
    tool: Mapped[Tool] = relationship()


class Subscriber(Base):
    """A list member, with consent state and category choice.

    ``categories`` is the canonical segment key: the chosen categories sorted
    and joined with ``|``; empty means every category.
    """

    __tablename__ = "subscriber"
    # Ids are in links for 400 days: SQLite must never reuse one (0006).
    __table_args__ = (
        _choices("status", "status", SubscriberStatus),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.PENDING, index=True)
    categories: Mapped[str] = mapped_column(String(1000), default="")
    source: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)
    confirmed_at: Mapped[dt.datetime | None]
    unsubscribed_at: Mapped[dt.datetime | None]
    # A pause chosen on the preferences page: no edition until then.
    paused_until: Mapped[dt.datetime | None]
    # Soft bounces since the last hard fact; past SOFT_BOUNCE_LIMIT the
    # address is suppressed.
    soft_bounces: Mapped[int] = mapped_column(default=0, server_default="0")
    # The IANA zone the reader gave (form, preferences, CSV); None: DIGEST_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))


class Vote(Base):
    """A community member's ship or skip on a tool; a later vote replaces it."""

    __tablename__ = "vote"
    __table_args__ = (
        UniqueConstraint("tool_id", "subscriber_id"),
        _choices("verdict", "verdict", Verdict),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tool.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)


class Edition(Base):
    """One digest of one list for one ISO week (``2026-W48``)."""

    __tablename__ = "edition"
    __table_args__ = (
        UniqueConstraint("list_id", "week"),
        _choices("status", "status", EditionStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[str] = mapped_column(String(100))
    week: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)
    started_at: Mapped[dt.datetime | None]  # when deliveries were materialised
    sent_at: Mapped[dt.datetime | None]
    # An editor's approval (DIGEST_REQUIRE_APPROVAL) and hold, with who and when.
    approved_at: Mapped[dt.datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    held_at: Mapped[dt.datetime | None]
    held_by: Mapped[str | None] = mapped_column(String(200))

    # Deleting an edition leaves its segments and deliveries to the
    # database's cascades, which remove both in one statement.
    segments: Mapped[list[EditionSegment]] = relationship(
        back_populates="edition",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="EditionSegment.id",
    )


class EditorCopy(Base):
    """An editor's Markdown file, kept as written: the edition file of one
    week (``name`` is the ISO week) or the welcome copy (``name`` is
    ``welcome``); see :mod:`worker.domain.editorial`."""

    __tablename__ = "editor_copy"
    __table_args__ = (UniqueConstraint("list_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(Text)
    # An edition file's one-off send time, read out of the file for the clock.
    send_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=process_now)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class EditionSegment(Base):
    """An edition rendered once for one segment (one category choice).

    The rendered parts hold per-recipient placeholders; the composer fills
    them in for each delivery.
    """

    __tablename__ = "edition_segment"
    __table_args__ = (UniqueConstraint("edition_id", "segment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id", ondelete="CASCADE"))
    segment: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)

    edition: Mapped[Edition] = relationship(back_populates="segments")


class Delivery(Base):
    """One edition to one subscriber: created once, sent at most once."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id"),
        _choices("status", "status", DeliveryStatus),
        # Claims walk what is left to send, and only that: these shrink as
        # the send goes on (migration 0004 says why). The queue is split by
        # due time (migration 0012): the undated in id order, the dated by
        # due time, so a claim never reads a delivery that is not due.
        Index(
            "ix_delivery_queued",
            "edition_id",
            "id",
            postgresql_where=text("status = 'queued' AND due_at IS NULL"),
            sqlite_where=text("status = 'queued' AND due_at IS NULL"),
        ),
        Index(
            "ix_delivery_due",
            "edition_id",
            "due_at",
            "id",
            postgresql_where=text("status = 'queued' AND due_at IS NOT NULL"),
            sqlite_where=text("status = 'queued' AND due_at IS NOT NULL"),
        ),
        Index(
            "ix_delivery_deferred",
            "edition_id",
            "next_attempt_at",
            postgresql_where=text("status = 'deferred'"),
            sqlite_where=text("status = 'deferred'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("edition.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    # No cascade: a segment with deliveries is never deleted (a rebuild of a
    # started edition fails rather than take its deliveries with it).
    segment_id: Mapped[int] = mapped_column(ForeignKey("edition_segment.id"))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    # A claimed delivery is leased to one worker until lease_expires_at; a
    # crashed worker's lease runs out and the delivery is claimed again.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    next_attempt_at: Mapped[dt.datetime | None]  # for deferred deliveries
    # When it may be sent: NULL is now; a reader's own morning with
    # DIGEST_SEND_LOCAL (worker.deliver.due_times).
    due_at: Mapped[dt.datetime | None]
    last_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]


class ClickCount(Base):
    """The clicks on one edition's links to one item (``comparison:SLUG``,
    ``launch:SLUG``, ``tool:SLUG``): counted per item, never per reader."""

    __tablename__ = "click_count"
    __table_args__ = (UniqueConstraint("edition_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(300))
    clicks: Mapped[int] = mapped_column(default=0, server_default="0")
    first_at: Mapped[dt.datetime] = mapped_column(default=process_now)
    last_at: Mapped[dt.datetime] = mapped_column(default=process_now)


class Suppression(Base):
    """An address no send ever reaches again, whatever its subscriber row says."""

    __tablename__ = "suppression"
    __table_args__ = (_choices("reason", "reason", SuppressionReason),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)


class RateHit(Base):
    """One accepted request counted against a rate limit (per address, per
    client address); old hits are pruned as new ones come."""

    __tablename__ = "rate_hit"
    __table_args__ = (Index("ix_rate_hit_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[dt.datetime] = mapped_column(default=process_now)


class IntakeEvent(Base):
    """A bounce, complaint or unsubscribe that reached us, once per source and
    key (a DSN's Message-ID, an SNS MessageId, a Postmark ID): intake is
    idempotent. The raw payload is kept beside the normalised fields."""

    __tablename__ = "intake_event"
    __table_args__ = (
        UniqueConstraint("source", "event_key"),
        _choices("kind", "kind", IntakeKind),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(30))
    event_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)


class WebhookEvent(Base):
    """An event for the webhook endpoints, written in the transaction of the
    change that causes it (a transactional outbox): ``body`` is what every
    attempt sends, as signed. Ids give the order; the worker fans an event
    out to each endpoint (``fanned_out``) as it finds it."""

    __tablename__ = "webhook_event"
    __table_args__ = (
        # Only what the worker has yet to fan out: it shrinks to nothing.
        # Each predicate as the dialect writes ~fanned_out, for its planner.
        Index(
            "ix_webhook_event_unfanned",
            "id",
            postgresql_where=text("NOT fanned_out"),
            sqlite_where=text("fanned_out = 0"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)  # webhook-id: msg_…
    type: Mapped[str] = mapped_column(String(40))
    # Whom it is about, for the order per subscriber; no foreign key: the
    # event of an erased subscriber still goes out.
    subscriber_id: Mapped[int | None]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now, index=True)
    fanned_out: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class WebhookEndpoint(Base):
    """A URL of ``WEBHOOK_URLS`` the worker has seen, kept with its state:
    disabled (when and why) once it answered 410 Gone."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=process_now)
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    """One event to one endpoint: pending until a 2xx answer (delivered) or
    until it is given up (failed); leased to one worker while it is sent."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        _choices("status", "status", WebhookStatus),
        # What is left to send, by when it is due, and by subscriber for
        # the order: both shrink as deliveries settle.
        Index(
            "ix_webhook_delivery_due",
            "endpoint_id",
            "next_attempt_at",
            "event_id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_webhook_delivery_order",
            "endpoint_id",
            "subscriber_id",
            "event_id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_event.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[int | None]  # the event's, beside the state it orders
    status: Mapped[str] = mapped_column(String(20), default=WebhookStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    # The 24 hours of retries count from here (digest webhooks retry starts them anew).
    first_attempt_at: Mapped[dt.datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None]  # the HTTP status of the last answer
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]


def receiving(now: dt.datetime) -> ColumnElement[bool]:
    """The condition on ``Subscriber`` of who gets an edition at ``now``:
    confirmed, not paused, and not on the suppression list."""
    return and_(
        Subscriber.status == SubscriberStatus.CONFIRMED,
        or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
        ~exists().where(Suppression.email == Subscriber.email),
    )


class FetchLog(Base):
    """One fetch of one feed: what the operator reads when a feed goes bad.
    Old rows are pruned by the clock (FETCH_LOG_DAYS)."""

    __tablename__ = "fetch_log"
    __table_args__ = (Index("ix_fetch_log_feed_id_fetched_at", "feed_id", "fetched_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    fetched_at: Mapped[dt.datetime] = mapped_column(default=process_now, index=True)
    status: Mapped[int | None]  # HTTP status; None when no answer came
    new_launches: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
