"""DKIM benchmark: the cost of signing, composing without the network.

Builds the demo week's edition in a scratch SQLite store, then composes N
messages of its everyone segment (~69 KB) for N different readers with the
worker's template (`MessageTemplate`), unsigned, signed with RSA 2048, and
signed with RSA 2048 and Ed25519 (two signatures), in the same run, and
prints each rate, the signed/unsigned ratio, what signing adds per message,
and what that addition makes of a sender whose unsigned rate end to end is
`--unsigned-rate` (the ratio a send would see if signing ran on the same
core: 1 / (1 + rate × added time)). The variants take turns, 200 readers at
a time, so that other work on the machine slows them alike. `--threads 2`
composes in two threads, as a sender that signs beside its I/O would: the
RSA operation runs outside the GIL. Every signed variant's first message is
checked with dkimpy first.

    .venv/bin/python bench/signing.py
    .venv/bin/python bench/signing.py --messages 5000 --runs 3 --threads 2
    .venv/bin/python bench/signing.py --dkimpy 200   # the old signer, for comparison

Keys are made for the run (or given: --rsa-key, --ed25519-key).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from scratch import add_subscribers, store
from sqlalchemy import select

from worker.compose.dkim import SIGNED_HEADERS
from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts
from worker.compose.template import MessageTemplate
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.deliver.editions import build_edition
from worker.domain.weeks import Week
from worker.ingest.importer import import_file
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import EditionSegment

WEEK = Week(2026, 48)
SLICE = 200  # readers composed by one variant before the next takes its turn
SELECTORS = {"rsa-sha256": b"bench-rsa", "ed25519-sha256": b"bench-ed25519"}


def segment_parts(settings: Settings) -> tuple[SegmentParts, EditionRef]:
    """The demo week's everyone segment, rendered and stored as a send has it."""
    with store("sqlite") as url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
        add_subscribers(sessions, 1)
        build_edition(sessions, WEEK, settings, Renderer(settings.templates_dir))
        with sessions() as session:
            segment = session.scalars(
                select(EditionSegment).where(EditionSegment.segment == "")
            ).one()
            parts = SegmentParts(segment.subject, segment.html, segment.text)
            ref = EditionRef(segment.edition_id, str(WEEK))
        engine.dispose()
    return parts, ref


def new_keys(folder: Path) -> tuple[Path, Path]:
    plain = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    paths = folder / "rsa.pem", folder / "ed25519.pem"
    keys = rsa.generate_private_key(65537, 2048), ed25519.Ed25519PrivateKey.generate()
    for path, key in zip(paths, keys, strict=True):
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, *plain))
    return paths


def public_record(path: Path) -> bytes:
    """The TXT record of the private key in ``path``."""
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    assert isinstance(key, rsa.RSAPrivateKey)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def check_signed(data: bytes, records: dict[bytes, bytes]) -> None:
    """Stop unless every signature of ``data`` verifies (dkimpy)."""
    signatures = data.count(b"DKIM-Signature:")
    verifier = dkim.DKIM(data)
    for index in range(signatures):
        if not verifier.verify(idx=index, dnsfunc=lambda name, timeout=5: records[name]):
            raise SystemExit(f"signature {index} does not verify")


@dataclasses.dataclass(frozen=True)
class Timing:
    rate: float  # messages per second, wall clock
    cpu: float  # CPU seconds per message, every thread's

    def line(self, name: str, unsigned: Timing | None, unsigned_rate: float) -> str:
        shown = f"{name} {self.rate:,.0f}/s, {self.cpu * 1e6:,.0f} µs CPU"
        if unsigned is None:
            return shown
        added = self.cpu - unsigned.cpu
        return (
            f"{shown} ({self.rate / unsigned.rate:.2f}× by wall clock, "
            f"{unsigned.cpu / self.cpu:.2f}× by CPU; +{added * 1e6:,.0f} µs CPU a message, "
            f"{1 / (1 + unsigned_rate * added):.2f}× at {unsigned_rate:,.0f}/s on one core)"
        )


def timed(
    templates: dict[str, MessageTemplate],
    readers: list[Recipient],
    now: dt.datetime,
    pool: ThreadPoolExecutor | None,
) -> dict[str, Timing]:
    """Each template composing one message per reader: its rate and CPU per
    message. The variants take turns, a slice of readers at a time, so that
    a machine busy with other work slows them alike."""
    wall = dict.fromkeys(templates, 0.0)
    cpu = dict.fromkeys(templates, 0.0)
    for first in range(0, len(readers), SLICE):
        some = readers[first : first + SLICE]
        for name, template in templates.items():
            began, used = time.perf_counter(), time.process_time()
            if pool is None:
                for reader in some:
                    template.compose(reader, now)
            else:
                for _ in pool.map(lambda r, t=template: t.compose(r, now), some, chunksize=16):
                    pass
            wall[name] += time.perf_counter() - began
            cpu[name] += time.process_time() - used
    return {name: Timing(len(readers) / wall[name], cpu[name] / len(readers)) for name in wall}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000, help="messages per variant and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads composing")
    parser.add_argument("--unsigned-rate", type=float, default=3000.0, help="msg/s end to end")
    parser.add_argument("--rsa-key", type=Path, help="PEM RSA key (default: a new 2048-bit one)")
    parser.add_argument("--ed25519-key", type=Path, help="PEM Ed25519 key (default: a new one)")
    parser.add_argument("--dkimpy", type=int, default=0, metavar="N", help="also time dkimpy")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-dkim-"))
    made = new_keys(folder)
    rsa_key, ed_key = args.rsa_key or made[0], args.ed25519_key or made[1]
    unsigned = load_settings({}, secret_key="bench-" * 8, mail_url="memory://")
    variants = {
        "unsigned": unsigned,
        "RSA 2048": dataclasses.replace(
            unsigned, dkim_key_file=rsa_key, dkim_selector=SELECTORS["rsa-sha256"].decode()
        ),
    }
    variants["RSA + Ed25519"] = dataclasses.replace(
        variants["RSA 2048"],
        dkim_ed25519_key_file=ed_key,
        dkim_ed25519_selector=SELECTORS["ed25519-sha256"].decode(),
    )
    domain = unsigned.list_domain
    records = {
        SELECTORS["rsa-sha256"] + b"._domainkey." + domain.encode() + b".": public_record(rsa_key),
        SELECTORS["ed25519-sha256"] + b"._domainkey." + domain.encode() + b".": public_record(
            ed_key
        ),
    }
    parts, ref = segment_parts(unsigned)
    now = dt.datetime.now(dt.UTC)
    readers = [
        Recipient(n, f"reader{n:07d}@example.com", f"Reader {n}") for n in range(args.messages)
    ]
    templates = {name: MessageTemplate(parts, ref, s) for name, s in variants.items()}
    size = len(templates["RSA 2048"].compose(readers[0], now).data)
    for name, template in templates.items():
        if name != "unsigned":
            check_signed(template.compose(readers[0], now).data, records)
    print(
        f"DKIM: {args.messages} messages of {size:,} bytes (signed) per variant and run, "
        f"{args.threads} thread(s); ratios in the same run"
    )
    timings: dict[str, list[Timing]] = {name: [] for name in templates}
    pool = ThreadPoolExecutor(args.threads) if args.threads > 1 else None
    for run in range(1, args.runs + 1):
        for name, took in timed(templates, readers, now, pool).items():
            timings[name].append(took)
        base = timings["unsigned"][-1]
        print(f"run {run}:")
        for name in templates:
            took = timings[name][-1]
            print("  " + took.line(name, None if took is base else base, args.unsigned_rate))
    if pool is not None:
        pool.shutdown()
    print("median of the runs:")
    middle = {
        name: Timing(
            statistics.median(t.rate for t in runs), statistics.median(t.cpu for t in runs)
        )
        for name, runs in timings.items()
    }
    for name, took in middle.items():
        unsigned_median = None if name == "unsigned" else middle["unsigned"]
        print("  " + took.line(name, unsigned_median, args.unsigned_rate))
    if args.dkimpy:
        data = templates["unsigned"].compose(readers[0], now).data
        pem = rsa_key.read_bytes()
        began = time.perf_counter()
        for _ in range(args.dkimpy):
            dkim.sign(
                data,
                SELECTORS["rsa-sha256"],
                domain.encode(),
                pem,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(SIGNED_HEADERS),
            )
        took = (time.perf_counter() - began) / args.dkimpy
        print(f"dkimpy.sign, RSA 2048 (the old signer): {1 / took:,.0f}/s, {took * 1e3:.1f} ms/msg")


if __name__ == "__main__":
    main()
