"""Signing processes: what they sign is what signing in the sender gives,
byte for byte, in order, across segments and chunks; one that dies stops
the batch with a clear error instead of a message going out unsigned."""

from __future__ import annotations

import pytest

from tests.support.digests import big_digest
from tests.support.dkimkeys import VERIFIED, DKIMKeys, dkimpy_verdicts
from tests.support.messages import EDITION, NOW
from worker.compose import dkim
from worker.compose.message import Recipient, SegmentParts
from worker.compose.signing import SigningPool, SigningProcessError
from worker.compose.template import MessageTemplate
from worker.config import PROJECT_ROOT, Settings
from worker.render.renderer import Renderer


def templates(settings: Settings) -> list[MessageTemplate]:
    renderer = Renderer(PROJECT_ROOT / "templates")
    made = []
    for comparisons, launches in ((2, 5), (5, 30)):
        rendered = renderer.render(big_digest(comparisons, launches))
        parts = SegmentParts(rendered.subject, rendered.html, rendered.text)
        made.append(MessageTemplate(parts, EDITION, settings))
    return made


@pytest.mark.parametrize("processes", [1, 2])
def test_signing_processes_give_the_bytes_signing_here_gives(
    settings: Settings, dkim_keys: DKIMKeys, processes: int
) -> None:
    signing = dkim_keys.signing(settings)
    segments = templates(signing)
    # 53 readers: chunks of 16 and a short one, two segments taking turns.
    unsigned = [
        segments[n % 2].unsigned(Recipient(n, f"r{n}@example.com", f"Reader {n}"), NOW)
        for n in range(53)
    ]
    pool = SigningPool(dkim.signing_keys(signing), processes)
    try:
        signed = list(pool.signed(iter(unsigned)))
        again = list(pool.signed(iter(unsigned[:3])))  # a second batch: segments already sent
    finally:
        pool.close()
    assert [m.data for m in signed] == [u.signed().data for u in unsigned]
    assert [m.data for m in again] == [u.signed().data for u in unsigned[:3]]
    assert dkimpy_verdicts(signed[-1].data, dkim_keys) == VERIFIED


def test_a_signing_process_that_dies_stops_the_batch(
    settings: Settings, dkim_keys: DKIMKeys
) -> None:
    signing = dkim_keys.signing(settings, ed25519=False)
    segment = templates(signing)[0]
    pool = SigningPool(dkim.signing_keys(signing), 1)
    try:
        first = pool.signed(
            segment.unsigned(Recipient(n, f"r{n}@example.com", None), NOW) for n in range(200)
        )
        next(first)  # at most a few chunks ahead: the rest are sent after the kill
        for signer in pool._signers:
            signer.process.kill()
            signer.process.wait()
        with pytest.raises(SigningProcessError, match="signing process"):
            list(first)
    finally:
        pool.close()


def test_a_batch_left_early_leaves_nothing_for_the_next(
    settings: Settings, dkim_keys: DKIMKeys
) -> None:
    """Answers still on their way when a sender stops taking messages are
    never read as the next batch's signatures."""
    signing = dkim_keys.signing(settings, ed25519=False)
    segment = templates(signing)[0]
    readers = [segment.unsigned(Recipient(n, f"r{n}@example.com", None), NOW) for n in range(80)]
    pool = SigningPool(dkim.signing_keys(signing), 1)
    try:
        left = pool.signed(iter(readers))
        next(left)
        left.close()
        signed = list(pool.signed(iter(readers[40:45])))
    finally:
        pool.close()
    assert [m.data for m in signed] == [u.signed().data for u in readers[40:45]]
