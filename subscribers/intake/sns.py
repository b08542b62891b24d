"""Amazon SNS messages, verified the way AWS documents it.

SES reports bounces, complaints and deliveries through an SNS topic with an
HTTPS subscription. Each message is signed: SignatureVersion 1 is SHA1 with
RSA, 2 is SHA256 with RSA, over a canonical string made of some of the
message's fields ("Key\\nValue\\n" each, in a fixed order per type). The
signing certificate is fetched from ``SigningCertURL``, but only when that URL
matches ``SNS_CERT_URL_PATTERN`` (by default an https URL on an
``sns.<region>.amazonaws.com`` host): anyone can sign a message with a
certificate of their own, so where it comes from is what makes it AWS's.
Certificates are cached per URL for the life of the process, redirects are
not followed, and an expired certificate verifies nothing.

A genuine signature only says that AWS delivered the message: anyone can
create a topic and publish SES-shaped notifications to it. So only the
topics in ``SNS_TOPIC_ARNS`` count, and with none set every message is
refused, before its certificate is fetched.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from worker.config import Settings
from worker.errors import DigestError
from worker.now import process_now

_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
OPTIONAL_FIELDS = ("Subject",)  # a Notification without a subject signs without it
CERT_MAX_BYTES = 64 * 1024
CERT_TIMEOUT = 10.0


class Rejected(DigestError):
    """The message is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str, *, hint: str = "") -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason, hint=hint)


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string SNS signs for ``message``'s type."""
    fields = SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise Rejected(400, f"unknown SNS message type {str(message.get('Type'))[:60]!r}")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise Rejected(400, f"the SNS message has no {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def verify(message: Mapping[str, Any], settings: Settings) -> None:
    """Return if ``message`` is from an accepted topic and genuine; raise
    :class:`Rejected` otherwise (503 while no topic is accepted). Fetches
    the signing certificate when it is not cached yet."""
    if not settings.sns_topic_arns:
        raise Rejected(
            503,
            "the SES webhook is not configured: set SNS_TOPIC_ARNS to the ARNs of the SNS "
            "topics SES publishes this list's notifications to",
        )
    signed = string_to_sign(message)
    # The topic is signed: checked first so a stranger's topic costs no
    # certificate fetch, and its subscription is never confirmed.
    if message.get("TopicArn") not in settings.sns_topic_arns:
        raise Rejected(403, "the topic is not one of SNS_TOPIC_ARNS")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Rejected(400, "unknown SignatureVersion (1 or 2 expected)")
    cert_url = message.get("SigningCertURL")
    if not isinstance(cert_url, str) or not re.match(settings.sns_cert_url_pattern, cert_url):
        raise Rejected(403, "SigningCertURL is not an accepted certificate location")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except binascii.Error:
        raise Rejected(403, "the Signature is not base64") from None
    certificate = certificates.get(cert_url)
    now = process_now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Rejected(403, "the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Rejected(403, "the signing certificate has no RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Rejected(403, "the signature does not match the message") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        # A redirect would lead away from the URL the pattern accepted.
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, *, max_bytes: int) -> bytes:
    """GET ``url`` (never redirected), at most ``max_bytes``; raises
    :class:`Rejected` (503: SNS tries again later) when it fails."""
    try:
        with _opener.open(url, timeout=CERT_TIMEOUT) as response:
            body: bytes = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise Rejected(503, f"cannot fetch {url}: {error}") from None
    if len(body) > max_bytes:
        raise Rejected(503, f"{url}: more than {max_bytes} bytes")
    return body


class CertificateCache:
    """Signing certificates by URL, each fetched once per process."""

    def __init__(self) -> None:
        self._found: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._found.get(url)
        if cached is not None:
            return cached
        try:
            certificate = x509.load_pem_x509_certificate(fetch(url, max_bytes=CERT_MAX_BYTES))
        except ValueError:
            raise Rejected(403, f"{url} is not a PEM certificate") from None
        with self._lock:
            return self._found.setdefault(url, certificate)


certificates = CertificateCache()
