"""DKIM signing (RFC 6376), on when a key file is set: RSA-SHA256 with
``DKIM_PRIVATE_KEY_FILE`` and Ed25519-SHA256 (RFC 8463) with
``DKIM_ED25519_KEY_FILE``; with both, a message carries both signatures,
as RFC 8463 advises while receivers learn Ed25519.

The signature covers the headers receivers judge a bulk sender by, the
two unsubscribe headers and Feedback-ID among them (DESIGN.md), with relaxed
canonicalisation (RFC 6376 §3.4.2 and §3.4.4) so that a relay's header
refolding does not break it. The crypto is OpenSSL's, through
``cryptography``; keys are read once per process.

Speed (docs/delivery.md, "DKIM"): a segment's bodies differ only in the
lines that hold a reader's links, so :class:`BodyHash` canonicalises the
rest once and hashes the prefix before the first such line once; per
message, the RSA operation is most of the cost that is left, and a sender
leaves it to signing processes (worker.compose.signing). The signature
itself is :mod:`worker.compose.signature`'s; this module reads the keys the
settings name.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from worker.compose.signature import (
    SIGNED_HEADERS,
    BodyHash,
    Signer,
    body_hash,
    fields_to_sign,
    relaxed_field,
    signature_lines,
    signed_fields,
)
from worker.config import Settings
from worker.errors import ConfigError

if TYPE_CHECKING:
    from worker.compose.signature import Key

__all__ = [
    "SIGNED_HEADERS",
    "BodyHash",
    "DKIMKeyError",
    "Signer",
    "body_hash",
    "fields_to_sign",
    "key_files",
    "read_key",
    "relaxed_field",
    "sign",
    "signed",
    "signed_fields",
    "signers",
    "signing_keys",
]

# RFC 8301: signers MUST NOT use RSA keys shorter than 1024 bits.
SHORTEST_RSA_KEY = 1024


class DKIMKeyError(ConfigError):
    """A DKIM key file that cannot be read, or holds the wrong kind of key.
    The message names the variable and the file, never the key's bytes."""

    hint = (
        "DKIM_PRIVATE_KEY_FILE takes an unencrypted PEM RSA key of 2048 bits, "
        "DKIM_ED25519_KEY_FILE a PEM Ed25519 key; docs/delivery.md#dkim shows "
        "how to make both"
    )

    def __init__(self, variable: str, problem: str, *, hint: str = "") -> None:
        super().__init__(f"{variable}: {problem}", hint=hint)
        self.variable = variable
        self.problem = problem


def signers(settings: Settings) -> tuple[Signer, ...]:
    """The signers the settings ask for, RSA first: none when DKIM is off.
    A DKIMKeyError when a key file cannot be read or holds the wrong key."""
    domain = settings.dkim_domain or settings.list_domain
    return tuple(
        Signer(read_key(variable, path), domain, selector)
        for variable, path, selector in key_files(settings)
    )


def signing_keys(settings: Settings) -> list[tuple[Path, str, str]]:
    """Per key the settings name: its file, signing domain and selector, RSA first."""
    domain = settings.dkim_domain or settings.list_domain
    return [(path, domain, selector) for _, path, selector in key_files(settings)]


def key_files(settings: Settings) -> list[tuple[str, Path, str]]:
    """The DKIM keys the settings name: variable, file and selector, RSA first."""
    files = [
        ("DKIM_PRIVATE_KEY_FILE", settings.dkim_key_file, settings.dkim_selector),
        ("DKIM_ED25519_KEY_FILE", settings.dkim_ed25519_key_file, settings.dkim_ed25519_selector),
    ]
    return [(variable, path, selector) for variable, path, selector in files if path is not None]


@functools.cache
def read_key(variable: str, path: Path) -> Key:
    """The private key in the PEM file ``path``, of the kind ``variable``
    takes (RSA of 1024 bits or more, or Ed25519); read once per process.

    ``cryptography`` is imported here: a worker that does not sign never
    loads it (about 6 MB)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    kinds: dict[str, type[Key]] = {
        "DKIM_PRIVATE_KEY_FILE": rsa.RSAPrivateKey,
        "DKIM_ED25519_KEY_FILE": ed25519.Ed25519PrivateKey,
    }
    words: dict[type[Key], str] = {
        rsa.RSAPrivateKey: "an RSA key",
        ed25519.Ed25519PrivateKey: "an Ed25519 key",
    }
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise DKIMKeyError(variable, f"cannot read {path}: {error.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise DKIMKeyError(variable, f"{path} is encrypted; DKIM needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise DKIMKeyError(variable, f"{path} is not a PEM private key") from None
    wanted = kinds[variable]
    if not isinstance(key, wanted):
        held = next((w for kind, w in words.items() if isinstance(key, kind)), "another key")
        raise DKIMKeyError(variable, f"{path} holds {held}, not {words[wanted]}")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < SHORTEST_RSA_KEY:
        raise DKIMKeyError(
            variable, f"{path} holds a {key.key_size}-bit RSA key; DKIM needs 1024 bits or more"
        )
    return key


def sign(data: bytes, signers: Sequence[Signer], now: dt.datetime) -> bytes:
    """``data`` (a message) with a DKIM-Signature header in front per signer."""
    if not signers:
        return data
    _, _, body = data.partition(b"\r\n\r\n")
    return signed(data, signers, body_hash(body), now)


def signed(data: bytes, signers: Sequence[Signer], bh: bytes, now: dt.datetime) -> bytes:
    """``data`` with a DKIM-Signature header in front per signer, for a body
    whose hash is ``bh`` (:func:`body_hash`, :class:`BodyHash`)."""
    fields = signed_fields(data.partition(b"\r\n\r\n")[0])
    return signature_lines(signers, fields, bh, int(now.timestamp())) + data
