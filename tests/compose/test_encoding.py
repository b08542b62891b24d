"""Bodies for the wire: quoted-printable that never needs SMTP's dot-stuffing."""

from __future__ import annotations

import quopri

from worker.compose.encoding import quoted_printable


def test_no_encoded_line_begins_with_a_dot_and_the_text_comes_back_unchanged() -> None:
    text = ".starts with a dot\n..two\n.\nmiddle . dot\n" + "x" * 80 + ".tail\n"
    encoded = quoted_printable(text)
    assert not encoded.startswith(b".")
    assert b"\r\n." not in encoded
    assert b"=2E" in encoded
    assert quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode() == text
