"""One message's DKIM signatures (RFC 6376, RFC 8463) from its parts:
relaxed canonicalisation, the body hash kept per segment
(:class:`BodyHash`), the DKIM-Signature line and the private-key step.

It imports nothing of ours, so that a signing process
(:mod:`worker.compose.signing`) is small: run as
``python -m worker.compose.signature``, it reads its keys once, is sent each
segment's fixed body pieces once, and then, per message, its signed header
fields and the reader's lines of its body; it answers the DKIM-Signature
lines. The frames are plain byte counts and bytes, never pickles.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    Key = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def private_key_sign(key: Key, data: bytes) -> bytes:
    """``key``'s signature of ``data``: RSASSA-PKCS1-v1_5 with SHA-256, or
    Ed25519 of the data's SHA-256 (RFC 8463 §3)."""
    # Imported when a key signs: a process that never signs never loads it.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(hashlib.sha256(data).digest())


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

_SPACES = re.compile(rb"  +")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")
_LONGEST_LINE = 78


class Signer:
    """One key's signature: its algorithm, signing domain (``d=``) and
    selector (``s=``)."""

    def __init__(self, key: Key, domain: str, selector: str) -> None:
        self.key = key
        from cryptography.hazmat.primitives.asymmetric import rsa

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

    def header(self, signed_fields: bytes, bh: bytes, timestamp: int) -> bytes:
        """The DKIM-Signature header line for a message whose signed header
        fields, canonicalised, are ``signed_fields`` and whose body hash is
        ``bh``, signed at ``timestamp`` (``t=``, seconds since the epoch)."""
        words = [
            *self._tags,
            f"t={timestamp};",
            *self._names,
            f"bh={base64.b64encode(bh).decode()};",
        ]
        # b= on a line of its own: what is hashed ends with an empty b=.
        unsigned = _folded("DKIM-Signature:", words) + b"\r\n b="
        signature = private_key_sign(self.key, signed_fields + relaxed_field(unsigned)[:-2])
        encoded = base64.b64encode(signature)
        lines = [encoded[i : i + 74] for i in range(0, len(encoded), 74)]
        return unsigned + b"\r\n ".join(lines) + b"\r\n"


def signature_lines(signers: Sequence[Signer], fields: bytes, bh: bytes, timestamp: int) -> bytes:
    """A DKIM-Signature line per signer, in order (:meth:`Signer.header`)."""
    return b"".join(signer.header(fields, bh, timestamp) for signer in signers)


def signed_fields(head: bytes) -> bytes:
    """The header fields of SIGNED_HEADERS in ``head`` (a message's header
    block without its last line end), canonicalised, in h= order; a name
    that appears twice is taken from the bottom up (RFC 6376 §5.4.2)."""
    return b"".join(relaxed_field(field) for field in fields_to_sign(head).values())


def fields_to_sign(head: bytes) -> dict[bytes, bytes]:
    """The fields of SIGNED_HEADERS in ``head`` as they are, by name, in h=
    order (the bottom one of a name given twice); names ``head`` lacks are
    left out."""
    by_name: dict[bytes, list[bytes]] = {}
    for field in _FIELD_START.split(head):
        name = field.partition(b":")[0].rstrip(b" \t").lower()
        by_name.setdefault(name, []).append(field)
    return {name: by_name[name.lower()][-1] for name in SIGNED_HEADERS if name.lower() in by_name}


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
        self.fixed = list(fixed)
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
        pieces[0::2], pieces[1::2] = self.fixed, fills
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


# A frame that gives a segment's fixed body pieces, ahead of its messages.
TEMPLATE = b"template"


def serve(requests: Connection, answers: Connection, signers: Sequence[Signer]) -> None:
    """A signing process's loop, until the requests' pipe closes.

    A frame whose first entry is ``[TEMPLATE, id]`` gives that segment's
    fixed body pieces (the next entry); any other frame is a chunk of
    messages, each ``[id, timestamp, signed fields, *the reader's lines]``,
    answered with one entry per message: its DKIM-Signature lines."""
    bodies: dict[bytes, BodyHash] = {}
    while True:
        try:
            frame = unpack(requests.recv_bytes())
        except EOFError:
            return
        if frame[0][0] == TEMPLATE:
            bodies[frame[0][1]] = BodyHash(frame[1])
            continue
        answers.send_bytes(
            pack(
                [
                    [signature_lines(signers, fields, bodies[tid].digest(fills), int(t))]
                    for tid, t, fields, *fills in frame
                ]
            )
        )


def pack(chunk: list[list[bytes]]) -> bytes:
    """Messages of byte strings as one frame: counts and lengths, then the bytes."""
    header = [len(chunk)]
    for items in chunk:
        header.append(len(items))
        header.extend(len(item) for item in items)
    return struct.pack(f"!{len(header)}I", *header) + b"".join(b"".join(i) for i in chunk)


def unpack(frame: bytes) -> list[list[bytes]]:
    """The messages :func:`pack` made ``frame`` of."""
    view = memoryview(frame)
    (count,) = struct.unpack_from("!I", view)
    at, sizes = 4, []
    for _ in range(count):
        (n,) = struct.unpack_from("!I", view, at)
        sizes.append(struct.unpack_from(f"!{n}I", view, at + 4))
        at += 4 + 4 * n
    chunk = []
    for lengths in sizes:
        items = []
        for length in lengths:
            items.append(bytes(view[at : at + length]))
            at += length
        chunk.append(items)
    return chunk


def main(argv: list[str]) -> None:
    """``python -m worker.compose.signature REQUESTS_FD ANSWERS_FD
    [KEY_FILE DOMAIN SELECTOR]...``: the keys were checked by the process
    that starts this one (worker.compose.dkim.read_key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    signers = []
    for at in range(2, len(argv), 3):
        path, domain, selector = argv[at : at + 3]
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
        signers.append(Signer(key, domain, selector))
    serve(
        Connection(int(argv[0]), writable=False),
        Connection(int(argv[1]), readable=False),
        signers,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
