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
message, the RSA operation is most of the cost that is left. Signing is
thread-safe, and OpenSSL runs RSA, Ed25519 and SHA-256 (on more than 2 KB)
without Python's GIL: a sender may sign in threads.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from worker.config import Settings
from worker.errors import ConfigError

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
    b"MIME-Version",
    b"Content-Type",
)

# RFC 8301: signers MUST NOT use RSA keys shorter than 1024 bits.
SHORTEST_RSA_KEY = 1024

Key = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_SPACES = re.compile(rb"  +")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")
_LONGEST_LINE = 78
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


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


class Signer:
    """One key's signature: its algorithm, signing domain (``d=``) and
    selector (``s=``)."""

    def __init__(self, key: Key, domain: str, selector: str) -> None:
        self.key = key
        self.algorithm = "rsa-sha256" if isinstance(key, rsa.RSAPrivateKey) else "ed25519-sha256"
        names = [name.decode().lower() for name in SIGNED_HEADERS]
        self._tags = [
            "v=1;",
            f"a={self.algorithm};",
            "c=relaxed/relaxed;",
            f"d={domain};",
            f"s={selector};",
        ]
        # Folding whitespace may follow each colon of h= (RFC 6376 §3.5).
        self._names = [f"h={names[0]}:", *(f"{name}:" for name in names[1:-1]), f"{names[-1]};"]

    def header(self, signed_fields: bytes, bh: bytes, now: dt.datetime) -> bytes:
        """The DKIM-Signature header line for a message whose signed header
        fields, canonicalised, are ``signed_fields`` and whose body hash is
        ``bh``, signed at ``now`` (``t=``)."""
        words = [
            *self._tags,
            f"t={int(now.timestamp())};",
            *self._names,
            f"bh={base64.b64encode(bh).decode()};",
        ]
        # b= on a line of its own: what is hashed ends with an empty b=.
        unsigned = _folded("DKIM-Signature:", words) + b"\r\n b="
        signature = self._sign(signed_fields + relaxed_field(unsigned)[:-2])
        encoded = base64.b64encode(signature)
        lines = [encoded[i : i + 74] for i in range(0, len(encoded), 74)]
        return unsigned + b"\r\n ".join(lines) + b"\r\n"

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, _PKCS1, _SHA256)
        # RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, not the data.
        return self.key.sign(hashlib.sha256(data).digest())


def signers(settings: Settings) -> tuple[Signer, ...]:
    """The signers the settings ask for, RSA first: none when DKIM is off.
    A DKIMKeyError when a key file cannot be read or holds the wrong key."""
    domain = settings.dkim_domain or settings.list_domain
    found = []
    if settings.dkim_key_file is not None:
        key = read_key("DKIM_PRIVATE_KEY_FILE", settings.dkim_key_file)
        found.append(Signer(key, domain, settings.dkim_selector))
    if settings.dkim_ed25519_key_file is not None:
        key = read_key("DKIM_ED25519_KEY_FILE", settings.dkim_ed25519_key_file)
        found.append(Signer(key, domain, settings.dkim_ed25519_selector))
    return tuple(found)


# The kind of key each variable takes.
_KINDS: dict[str, type[Key]] = {
    "DKIM_PRIVATE_KEY_FILE": rsa.RSAPrivateKey,
    "DKIM_ED25519_KEY_FILE": ed25519.Ed25519PrivateKey,
}
_KIND_WORDS: dict[type[Key], str] = {
    rsa.RSAPrivateKey: "an RSA key",
    ed25519.Ed25519PrivateKey: "an Ed25519 key",
}


@functools.cache
def read_key(variable: str, path: Path) -> Key:
    """The private key in the PEM file ``path``, of the kind ``variable``
    takes (:data:`_KINDS`: RSA of 1024 bits or more, or Ed25519); read once
    per process."""
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
    wanted = _KINDS[variable]
    if not isinstance(key, wanted):
        held = next((w for kind, w in _KIND_WORDS.items() if isinstance(key, kind)), "another key")
        raise DKIMKeyError(variable, f"{path} holds {held}, not {_KIND_WORDS[wanted]}")
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
    return b"".join(signer.header(fields, bh, now) for signer in signers) + data


def signed_fields(head: bytes) -> bytes:
    """The header fields of SIGNED_HEADERS in ``head`` (a message's header
    block without its last line end), canonicalised, in h= order; a name
    that appears twice is taken from the bottom up (RFC 6376 §5.4.2)."""
    by_name: dict[bytes, list[bytes]] = {}
    for field in _FIELD_START.split(head):
        name = field.partition(b":")[0].rstrip(b" \t").lower()
        by_name.setdefault(name, []).append(field)
    found = []
    for name in SIGNED_HEADERS:
        instances = by_name.get(name.lower())
        if instances:
            found.append(relaxed_field(instances.pop()))
    return b"".join(found)


def relaxed_field(field: bytes) -> bytes:
    """A header field (name, colon, value, folded or not) in the relaxed
    canonical form, with its line end (RFC 6376 §3.4.2)."""
    name, _, value = field.partition(b":")
    value = _one_space(value.replace(b"\r\n", b"")).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def body_hash(body: bytes) -> bytes:
    """The SHA-256 hash of ``body`` in the relaxed canonical form."""
    return hashlib.sha256(_ended(relaxed_lines(body))).digest()


def relaxed_lines(data: bytes) -> bytes:
    """``data`` with each run of spaces and tabs made one space and none
    left at a line's end: relaxed body canonicalisation but for the empty
    lines at the end (RFC 6376 §3.4.4). Pieces cut after a byte that is not
    a space, tab or CR canonicalise alone to the same bytes as together."""
    data = _one_space(data)
    return data.replace(b" \r\n", b"\r\n") if b" \r\n" in data else data


def _one_space(data: bytes) -> bytes:
    """``data`` with each run of spaces and tabs made one space (the bytes
    methods first: they are many times faster than a regular expression
    that looks at every byte)."""
    if b"\t" in data:
        data = data.replace(b"\t", b" ")
    return _SPACES.sub(b" ", data) if b"  " in data else data


def _ended(canonical: bytes) -> bytes:
    """A canonical body without its empty lines at the end, and with a line
    end unless it is empty."""
    end = len(canonical)
    while canonical.endswith(b"\r\n", 0, end):
        end -= 2
    return canonical[:end] + b"\r\n" if end else b""


# The last bytes after which a body cannot be cut (see relaxed_lines).
_UNSAFE_ENDS = (b" ", b"\t", b"\r")


class BodyHash:
    """The relaxed body hash of bodies alike but for some pieces: the fixed
    pieces are canonicalised once, and the hash of all that comes before
    the first piece that differs is kept; each body then costs the
    canonicalisation of its own pieces and the hashing of the rest.

    ``fixed`` is the body's fixed pieces, with the differing pieces (the
    fills) between them: ``len(fixed)`` is one more than the fills. Cutting
    the body up must not change its canonical form, so a piece before a fill
    must end in a byte that is not a space, a tab or a CR (a line end does),
    and the last piece, when there are fills, must hold a line that is not
    empty. A fill that ends in one of those bytes is hashed with its body
    canonicalised whole.
    """

    def __init__(self, fixed: Sequence[bytes]) -> None:
        if any(piece.endswith(_UNSAFE_ENDS) for piece in fixed[:-1]):
            raise ValueError("a fixed piece of a body ends in a space, tab or CR")
        canonical = [relaxed_lines(piece) for piece in fixed]
        canonical[-1] = _ended(canonical[-1])
        if len(fixed) > 1 and not canonical[-1]:
            raise ValueError("a body must end in a fixed line that is not empty")
        self._fixed = list(fixed)
        self._prefix = hashlib.sha256(canonical[0])
        self._after = canonical[1:]

    def digest(self, fills: Sequence[bytes]) -> bytes:
        """The body hash of the body with ``fills`` between the fixed pieces."""
        if len(fills) != len(self._after):
            raise ValueError(f"{len(fills)} fills for {len(self._after)} places")
        if not fills:
            return self._prefix.digest()
        # One canonicalisation for all fills, cut apart again at NULs, which
        # canonicalisation keeps and after which a cut is safe.
        joined = b"\x00".join(fills)
        canonical = relaxed_lines(joined).split(b"\x00")
        if len(canonical) != len(fills) or any(f.endswith(_UNSAFE_ENDS) for f in fills):
            return body_hash(self._joined(fills))
        pieces = [b""] * (2 * len(fills))
        pieces[0::2], pieces[1::2] = canonical, self._after
        hashed = self._prefix.copy()
        hashed.update(b"".join(pieces))
        return hashed.digest()

    def _joined(self, fills: Sequence[bytes]) -> bytes:
        pieces = [b""] * (2 * len(fills) + 1)
        pieces[0::2], pieces[1::2] = self._fixed, fills
        return b"".join(pieces)


def _folded(name: str, words: Sequence[str]) -> bytes:
    """``name`` and ``words`` as a header line folded at spaces before it
    grows past 78 octets (without the line end)."""
    lines = [name]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > _LONGEST_LINE:
            lines.append("")
        lines[-1] += " " + word
    return "\r\n".join(lines).encode("ascii")
