"""Message bodies encoded for the wire: UTF-8 quoted-printable, CRLF line ends."""

from __future__ import annotations

import binascii


def quoted_printable(text: str) -> bytes:
    """``text`` as UTF-8 quoted-printable with CRLF line ends. Each line is
    encoded on its own, so encoding a body in pieces cut at line ends gives
    the same bytes as encoding it whole."""
    return quoted_printable_lines(normalise(text))


def quoted_printable_lines(text: str) -> bytes:
    """Quoted-printable of ``text`` whose newlines are already plain.

    A dot that begins a line is encoded (``=2E``, the same character once
    decoded), so that no line of a body needs SMTP's dot-stuffing: the
    sender writes a message as it is, without copying it to double dots."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    if encoded.startswith(b"."):
        encoded = b"=2E" + encoded[1:]
    if b"\n." in encoded:
        encoded = encoded.replace(b"\n.", b"\n=2E")
    return encoded.replace(b"\n", b"\r\n")


def normalise(text: str) -> str:
    """Newlines made plain, and NULs (never meant in a mail body) dropped."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
