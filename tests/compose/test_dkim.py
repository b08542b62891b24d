"""DKIM: both paths sign alike with RSA and Ed25519, the signatures verify
with dkimpy and with OpenDKIM, a changed byte breaks them, the body hash
kept per segment is the body hash of the whole, and a bad key file is
named before anything is sent."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dkim.canonicalization import Relaxed
from rich.console import Console

from tests.support.dkimkeys import (
    BROKEN,
    VERIFIED,
    DKIMKeys,
    dkimpy_verdicts,
    opendkim_verdicts,
    with_byte_changed,
)
from tests.support.messages import ADA, EDITION, NOW
from worker.compose import dkim
from worker.compose.links import recipient_links
from worker.compose.message import SegmentParts, compose_message, compose_notice
from worker.compose.template import MessageTemplate, _LineChunks
from worker.config import Settings
from worker.domain import placeholders
from worker.editor.demo import run_demo
from worker.editor.sample import SAMPLE_WEEK
from worker.errors import ConfigError

PASSED = {"rsa-sha256": "pass", "ed25519-sha256": "pass"}

PARTS = SegmentParts(
    "Verdicts",
    "<p>Hello,   reader</p>\n"
    f'<a\nhref="{placeholders.UNSUBSCRIBE_URL}"\n>u</a>\n'
    f'<a\nhref="https://verdicts.example/vote/{placeholders.VOTE_TOKEN}/a/ship"\n>ship</a>\n'
    "<p>\tindented \t  text   </p>\n",
    f"Vote:  https://verdicts.example/vote/{placeholders.VOTE_TOKEN}/a/ship\n\n"
    f"Unsubscribe: {placeholders.UNSUBSCRIBE_URL}\n\n\n",
)


def header_values(message: bytes, name: bytes) -> list[bytes]:
    """Each ``name`` header of ``message``, unfolded."""
    head = message.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ")
    return re.findall(rb"^" + name + rb": (.*)$", head, re.M | re.I)


def test_both_paths_sign_alike_with_rsa_then_ed25519(
    dkim_keys: DKIMKeys, settings: Settings
) -> None:
    signing = dkim_keys.signing(settings)
    slow = compose_message(PARTS, ADA, EDITION, signing, now=NOW).data
    fast = MessageTemplate(PARTS, EDITION, signing).compose(ADA, NOW).data
    assert fast == slow
    assert dkimpy_verdicts(fast, dkim_keys) == VERIFIED
    rsa_signature, ed_signature = header_values(fast, b"DKIM-Signature")
    for signature, algorithm, selector in (
        (rsa_signature, b"rsa-sha256", b"rsa2048"),
        (ed_signature, b"ed25519-sha256", b"ed2026"),
    ):
        tags = dict(re.findall(rb"(\w+)=([^;]*)", signature.replace(b" ", b"")))
        assert tags[b"a"] == algorithm and tags[b"s"] == selector
        assert tags[b"c"] == b"relaxed/relaxed" and tags[b"d"] == b"verdicts.example"
        assert tags[b"t"] == str(int(NOW.timestamp())).encode()
        assert tags[b"h"].split(b":") == [name.lower() for name in dkim.SIGNED_HEADERS]
    # Unsigned, the same message but for the signatures.
    unsigned = MessageTemplate(PARTS, EDITION, settings).compose(ADA, NOW).data
    assert fast.endswith(unsigned) and fast.index(b"From:") == len(fast) - len(unsigned)
    # No line of a signature grows past 78 octets.
    assert max(len(line) for line in fast[: fast.index(b"From:")].split(b"\r\n")) <= 78


def test_rsa_alone_signs_once(dkim_keys: DKIMKeys, settings: Settings) -> None:
    message = MessageTemplate(PARTS, EDITION, dkim_keys.signing(settings, ed25519=False)).compose(
        ADA, NOW
    )
    assert dkimpy_verdicts(message.data, dkim_keys) == {"rsa-sha256": True}


def test_a_notice_is_signed(dkim_keys: DKIMKeys, settings: Settings) -> None:
    notice = compose_notice(PARTS, ADA, dkim_keys.signing(settings), now=NOW)
    assert dkimpy_verdicts(notice.data, dkim_keys) == VERIFIED


def test_a_changed_byte_breaks_both_signatures(dkim_keys: DKIMKeys, settings: Settings) -> None:
    data = MessageTemplate(PARTS, EDITION, dkim_keys.signing(settings)).compose(ADA, NOW).data
    token = recipient_links(settings, ADA.subscriber_id, NOW).vote_token
    # In the HTML part's vote link (quoted-printable may break the token's line later on).
    changed = with_byte_changed(data, data.rindex(token[:10].encode()) + 5)
    unsubscribe = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    for tampered in (
        changed,
        data.replace(unsubscribe, b"List-Unsubscribe-Post: nothing"),
        data.replace(b"To: Ada Lovelace", b"To: Ada Lovelacf"),
        data.replace(b"Hello,   reader", b"Hello,   Reader"),
    ):
        assert tampered != data
        assert dkimpy_verdicts(tampered, dkim_keys) == BROKEN
    # What relaxed canonicalisation forgives, it forgives.
    refolded = data.replace(b"\r\nSubject: Verdicts", b"\r\nSubject:   Verdicts\r\n  ")
    respaced = data.replace(b"Hello,   reader", b"Hello, \treader")
    for forgiven in (refolded, respaced):
        assert forgiven != data
        assert dkimpy_verdicts(forgiven, dkim_keys) == VERIFIED


def relaxed_hash(body: bytes) -> bytes:
    """dkimpy's relaxed body hash: the oracle."""
    return hashlib.sha256(Relaxed.canonicalize_body(body)).digest()


@pytest.mark.parametrize(
    ("fixed", "fills"),
    [
        # Runs of spaces and tabs inside pieces, spaces at line ends, empty
        # lines at the end.
        (
            [b"a  b\t\tc \r\n\r\n", b"x \t\r\n  y\r\n", b"end\r\n\r\n\r\n"],
            [b"fill  one\t\r\n", b"fill two \r\n"],
        ),
        # Fills that are empty, or begin with spaces; a body that ends without a line end.
        ([b"head\r\n", b"", b" mid\r\n", b"--end--"], [b"", b"  lead\r\n", b"x\r\n"]),
        # A fill that ends in a space (never from quoted-printable): hashed whole.
        ([b"a\r\n", b"  b\r\n"], [b"ends in a space "]),
        ([b"a\r\n", b"\r\nb\r\n"], [b"ends in a CR\r"]),
        # No fill at all.
        ([b"only  text \r\n\r\n"], []),
    ],
)
def test_the_body_hash_of_pieces_is_that_of_the_whole(
    fixed: list[bytes], fills: list[bytes]
) -> None:
    whole = b"".join(p for pair in zip(fixed, [*fills, b""], strict=True) for p in pair)
    assert dkim.BodyHash(fixed).digest(fills) == relaxed_hash(whole)
    assert dkim.body_hash(whole) == relaxed_hash(whole)


def test_a_body_that_cannot_be_cut_where_asked_is_refused() -> None:
    with pytest.raises(ValueError, match="space, tab or CR"):
        dkim.BodyHash([b"a \r\n", b"b ", b"end\r\n"])
    with pytest.raises(ValueError, match="not empty"):
        dkim.BodyHash([b"a\r\n", b"\r\n\r\n"])


def test_filled_lines_never_end_in_whitespace(settings: Settings) -> None:
    """The body hash kept per segment holds because every per-recipient
    piece ends a line (quoted-printable encodes a space or tab before a line
    end): true however the template spaces its placeholder lines."""
    body = (
        f"Vote: {placeholders.VOTE_TOKEN}   \n"
        f"\t{placeholders.UNSUBSCRIBE_URL}\t\n"
        f"{placeholders.PREFERENCES_URL} \n"
        f"{'long ' * 30}{placeholders.VOTE_TOKEN}{' ' * 80}\n"
        f"last line without an end {placeholders.VOTE_TOKEN} "
    )
    spaced = dataclasses.replace(settings, site_url="https://verdicts.example/a  b ")
    filled = _LineChunks(body).filled(recipient_links(spaced, 7, NOW))
    assert len(filled) == 5
    assert all(piece.endswith((b"\r\n", b"=20")) for piece in filled), filled


@pytest.mark.parametrize(
    ("variable", "content", "problem"),
    [
        ("DKIM_PRIVATE_KEY_FILE", None, "cannot read"),
        ("DKIM_PRIVATE_KEY_FILE", b"not a key", "is not a PEM private key"),
        ("DKIM_PRIVATE_KEY_FILE", "ed25519", "holds an Ed25519 key, not an RSA key"),
        ("DKIM_ED25519_KEY_FILE", "rsa", "holds an RSA key, not an Ed25519 key"),
        ("DKIM_PRIVATE_KEY_FILE", "ec", "holds another key, not an RSA key"),
        ("DKIM_PRIVATE_KEY_FILE", "encrypted", "is encrypted"),
        ("DKIM_PRIVATE_KEY_FILE", "rsa512", "512-bit RSA key; DKIM needs 1024 bits"),
    ],
)
def test_a_bad_key_file_is_named_before_any_message(
    dkim_keys: DKIMKeys,
    settings: Settings,
    tmp_path: Path,
    variable: str,
    content: bytes | str | None,
    problem: str,
) -> None:
    path = tmp_path / "key.pem"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "rsa":
        path.write_bytes(dkim_keys.rsa.read_bytes())
    elif content == "ed25519":
        path.write_bytes(dkim_keys.ed25519.read_bytes())
    elif content == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    elif content == "encrypted":
        secret = ed25519.Ed25519PrivateKey.generate()
        path.write_bytes(
            secret.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"passphrase"),
            )
        )
    elif content == "rsa512":
        subprocess.run(["openssl", "genrsa", "-out", str(path), "512"], check=True)
    field = "dkim_key_file" if variable == "DKIM_PRIVATE_KEY_FILE" else "dkim_ed25519_key_file"
    bad = dataclasses.replace(settings, **{field: path})
    with pytest.raises(ConfigError) as raised:
        MessageTemplate(PARTS, EDITION, bad)
    message = str(raised.value)
    assert message.startswith(f"{variable}: ") and str(path) in message and problem in message
    assert raised.value.hint
    if path.exists():
        # Nothing of the file's content is shown.
        for line in path.read_bytes().splitlines():
            if len(line) > 8:
                assert line.decode(errors="replace") not in message


def test_opendkim_accepts_the_signed_demo(
    dkim_keys: DKIMKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's messages, signed with both keys, pass OpenDKIM's verifier;
    one with a changed byte fails it."""
    for name, value in dkim_keys.environment().items():
        monkeypatch.setenv(name, value)
    result = run_demo(tmp_path / "demo", SAMPLE_WEEK, Console(file=io.StringIO()))
    messages = sorted(result.outbox.glob("*.eml"))
    assert len(messages) == result.messages >= 5
    for path in messages:
        assert opendkim_verdicts(path, dkim_keys) == PASSED
    data = messages[0].read_bytes()
    tampered = tmp_path / "tampered.eml"
    tampered.write_bytes(with_byte_changed(data, data.index(b"/vote/") + 8))
    failed = {"rsa-sha256": "fail", "ed25519-sha256": "fail"}
    assert opendkim_verdicts(tampered, dkim_keys) == failed
