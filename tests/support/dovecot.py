"""A real IMAP server for tests: Debian's Dovecot (``dovecot-imapd``), run in
the foreground from a configuration written to a temporary directory, on
loopback ports of its own, with TLS by a self-signed certificate.

As root, Dovecot's own ``dovecot`` and ``dovenull`` users (made by the
package) run its processes and own the mail; as anyone else, everything runs
as that user. Tests skip when Dovecot is not installed, unless
``VERDICT_REQUIRE_IMAP=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.intakehelpers import localhost_certificate
from tests.support.processes import stop

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
REQUIRE = os.environ.get("VERDICT_REQUIRE_IMAP") == "1"
USER = "bounces"
PASSWORD = "s3cret/with?odd#chars"


@dataclass
class Dovecot:
    host: str
    imap_port: int
    imaps_port: int
    root: Path

    def url(self, scheme: str = "imaps", mailbox: str = "INBOX", query: str = "") -> str:
        """The mailbox's URL, with the password percent-encoded only where a
        URL parser would need it: the code under test must cope."""
        port = self.imaps_port if scheme == "imaps" else self.imap_port
        suffix = f"?{query}" if query else ""
        return f"{scheme}://{USER}:{PASSWORD}@{self.host}:{port}/{mailbox}{suffix}"

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4_SSL]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context) as imap:
            imap.login(USER, PASSWORD)
            imap.select("INBOX")
            yield imap

    def append(self, *messages: bytes) -> None:
        with self.client() as imap:
            for message in messages:
                status, _ = imap.append("INBOX", None, None, message.replace(b"\n", b"\r\n"))
                assert status == "OK"

    def flags(self) -> dict[int, set[str]]:
        """UID → flags of each message left in INBOX."""
        with self.client() as imap:
            status, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        found: dict[int, set[str]] = {}
        for line in data if status == "OK" else ():
            if not isinstance(line, bytes):
                continue
            text = line.decode()
            uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
            flags = text.split("FLAGS (", 1)[1].split(")", 1)[0]
            found[uid] = set(flags.split())
        return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(root: Path, imap_port: int, imaps_port: int) -> str:
    cert, key = localhost_certificate(root)
    if os.getuid() == 0:
        internal, login = "dovecot", "dovenull"
        mail_user = pwd.getpwnam("dovecot")
    else:
        internal = login = pwd.getpwuid(os.getuid()).pw_name
        mail_user = pwd.getpwuid(os.getuid())
    mail = root / "mail"
    mail.mkdir()
    if os.getuid() == 0:
        shutil.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain
auth_failure_delay = 0
first_valid_uid = {min(mail_user.pw_uid, 500)}
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def run_dovecot() -> Iterator[Dovecot]:
    """Dovecot on two free loopback ports (IMAP with STARTTLS, and IMAPS)
    until the block ends."""
    if not Path(DOVECOT).exists():
        message = "Dovecot is not installed (apt-get install dovecot-imapd)"
        if REQUIRE:
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's tmp_path: Dovecot's unprivileged processes must be
    # able to reach the mail directory.
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)
    imap_port, imaps_port = _free_port(), _free_port()
    (root / "dovecot.conf").write_text(_config(root, imap_port, imaps_port))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(imaps_port, process, root)
        yield Dovecot("127.0.0.1", imap_port, imaps_port, root)
    finally:
        stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"dovecot exited with {process.returncode}: {stderr}{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("dovecot did not start listening within 15 s")
