"""DKIM keys for tests, with their DNS records served without DNS: to
dkimpy through its ``dnsfunc``, to OpenDKIM through a ``TestPublicKeys``
file; and each verifier's verdict on every signature of a message.

OpenDKIM is Debian's ``opendkim`` (2.11 verifies Ed25519). Tests that need
it skip when it is missing, unless ``VERDICT_REQUIRE_OPENDKIM=1`` (set by
``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from worker.config import Settings

OPENDKIM = Path("/usr/sbin/opendkim")
REQUIRE_OPENDKIM = os.environ.get("VERDICT_REQUIRE_OPENDKIM") == "1"
DOMAIN = "verdicts.example"
RSA_SELECTOR = "rsa2048"
ED25519_SELECTOR = "ed2026"

_PEM = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()


@dataclass(frozen=True)
class DKIMKeys:
    """An RSA 2048 and an Ed25519 key as PEM files, and their TXT records
    under ``DOMAIN``."""

    rsa: Path
    ed25519: Path
    records: dict[str, str]  # "selector._domainkey.domain" → the TXT record

    def dns(self, name: bytes, timeout: int = 5) -> bytes | None:
        """dkimpy's ``dnsfunc``: the record of ``name`` (which ends in a dot)."""
        return self.records.get(name.decode().rstrip("."), "").encode() or None

    def signing(self, settings: Settings, *, ed25519: bool = True) -> Settings:
        """``settings`` signing with the RSA key, and the Ed25519 key too."""
        return dataclasses.replace(
            settings,
            dkim_key_file=self.rsa,
            dkim_selector=RSA_SELECTOR,
            dkim_ed25519_key_file=self.ed25519 if ed25519 else None,
            dkim_ed25519_selector=ED25519_SELECTOR,
            dkim_domain=DOMAIN,
        )

    def environment(self) -> dict[str, str]:
        """The variables that sign with both keys."""
        return {
            "DKIM_PRIVATE_KEY_FILE": str(self.rsa),
            "DKIM_SELECTOR": RSA_SELECTOR,
            "DKIM_ED25519_KEY_FILE": str(self.ed25519),
            "DKIM_ED25519_SELECTOR": ED25519_SELECTOR,
            "DKIM_DOMAIN": DOMAIN,
        }


# dkimpy's verdicts on a message signed with both keys, intact and changed.
VERIFIED = {"rsa-sha256": True, "ed25519-sha256": True}
BROKEN = {"rsa-sha256": False, "ed25519-sha256": False}


def with_byte_changed(data: bytes, at: int) -> bytes:
    """``data`` with its byte at ``at`` changed (to another letter)."""
    other = b"x" if data[at : at + 1] != b"x" else b"y"
    return data[:at] + other + data[at + 1 :]


def make_keys(folder: Path) -> DKIMKeys:
    """New keys in ``folder``."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_path, ed_path = folder / "dkim-rsa.pem", folder / "dkim-ed25519.pem"
    rsa_path.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, *_PEM))
    ed_path.write_bytes(ed_key.private_bytes(serialization.Encoding.PEM, *_PEM))
    rsa_public = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ed_public = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    records = {
        f"{RSA_SELECTOR}._domainkey.{DOMAIN}": "v=DKIM1; k=rsa; p="
        + base64.b64encode(rsa_public).decode(),
        f"{ED25519_SELECTOR}._domainkey.{DOMAIN}": "v=DKIM1; k=ed25519; p="
        + base64.b64encode(ed_public).decode(),
    }
    return DKIMKeys(rsa_path, ed_path, records)


def dkimpy_verdicts(message: bytes, keys: DKIMKeys) -> dict[str, bool]:
    """dkimpy's verdict on each DKIM-Signature of ``message``, by its ``a=``."""
    algorithms = re.findall(rb"^DKIM-Signature:.*?\ba=([\w-]+);", message, re.M | re.S)
    return {
        algorithm.decode(): _verified(message, index, keys)
        for index, algorithm in enumerate(algorithms)
    }


def _verified(message: bytes, index: int, keys: DKIMKeys) -> bool:
    try:
        return bool(dkim.DKIM(message).verify(idx=index, dnsfunc=keys.dns))
    except dkim.DKIMException:  # a body hash that does not match, say
        return False


def opendkim_verdicts(message: Path, keys: DKIMKeys) -> dict[str, str]:
    """OpenDKIM's verdict ("pass", "fail", …) on each DKIM-Signature of the
    message in the file ``message``, by its ``a=``: ``opendkim -t`` in test
    mode, its keys read from a file instead of DNS."""
    if not OPENDKIM.exists():
        reason = f"{OPENDKIM} is missing (apt-get install opendkim opendkim-tools)"
        if REQUIRE_OPENDKIM:
            pytest.fail(reason)
        pytest.skip(reason)
    folder = message.parent
    published = folder / "opendkim-keys.txt"
    published.write_text("".join(f"{name} {record}\n" for name, record in keys.records.items()))
    config = folder / "opendkim.conf"
    config.write_text(f"Mode v\nSyslog no\nTestPublicKeys {published}\n")
    done = subprocess.run(
        [str(OPENDKIM), "-x", str(config), "-vvv", "-t", str(message)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # -vvv prints the Authentication-Results header it would add.
    results = re.findall(
        r"\bdkim=(\w+)\b[^;]*?\bheader\.a=([\w-]+)", done.stdout + done.stderr, re.S
    )
    return {algorithm: verdict for verdict, algorithm in results}
