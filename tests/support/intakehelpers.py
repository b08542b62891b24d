"""Helpers shared by the intake tests (mailboxes, webhooks, Dovecot): the
store as intake may change it, and self-signed certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.store.models import IntakeEvent, Subscriber, Suppression


def state(sessions: sessionmaker[Session]) -> tuple[object, ...]:
    """Everything intake may change, to compare before and after."""
    with sessions() as session:
        subscribers = session.execute(
            select(
                Subscriber.email,
                Subscriber.status,
                Subscriber.soft_bounces,
                Subscriber.unsubscribed_at,
            ).order_by(Subscriber.email)
        ).all()
        suppressions = session.execute(
            select(Suppression.email, Suppression.reason).order_by(Suppression.email)
        ).all()
        events = session.scalar(select(func.count()).select_from(IntakeEvent))
    return tuple(subscribers), tuple(suppressions), events


def status_of(sessions: sessionmaker[Session], email: str) -> tuple[str, int, str | None]:
    """A subscriber's status, soft-bounce count and suppression reason."""
    with sessions() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        reason = session.scalar(select(Suppression.reason).where(Suppression.email == email))
    assert subscriber is not None
    return subscriber.status, subscriber.soft_bounces, reason


def self_signed(
    common_name: str,
    *,
    valid_from: dt.timedelta = dt.timedelta(hours=-1),
    valid_until: dt.timedelta = dt.timedelta(days=30),
    alternative_names: Sequence[x509.GeneralName] = (),
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new RSA key and a certificate for it signed by itself, valid from
    and until the given offsets from now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from)
        .not_valid_after(now + valid_until)
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(alternative_names)), critical=False
        )
    return key, builder.sign(key, hashes.SHA256())


def localhost_certificate(
    directory: Path, addresses: Sequence[str] = ("127.0.0.1",)
) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (and ``addresses``),
    valid for a day, and its key, as PEM files in ``directory``."""
    key, certificate = self_signed(
        "localhost",
        valid_from=dt.timedelta(minutes=-5),
        valid_until=dt.timedelta(days=1),
        alternative_names=[
            x509.DNSName("localhost"),
            *(x509.IPAddress(ipaddress.ip_address(address)) for address in addresses),
        ],
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
