"""Every process that signs links or sends mail refuses the public
development key for a site that is not a developer's (issue 12, finding 9):
links signed with it can be forged, and die once a real key is set."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from tests.support.sample import W48, load_sample
from worker.config import DEV_SECRET_KEY, Settings
from worker.store.models import Delivery, Subscriber

SENDING = [
    ["send", "--week", str(W48)],
    ["send", "--test", "--to", "editor@example.com", "--sample"],
    ["worker", "--once"],
    ["tick"],
    ["clock"],
    ["subscribers", "add", "--pending", "new@example.com"],
]


@pytest.mark.parametrize("args", SENDING, ids=lambda args: " ".join(args[:2]))
@pytest.mark.parametrize("where", ["SECRET_KEY", "OLD_SECRET_KEYS"])
def test_a_public_site_is_never_mailed_links_signed_with_the_development_key(
    digest: CliRunnerCall,
    sessions: sessionmaker[Session],
    settings: Settings,
    args: list[str],
    where: str,
) -> None:
    load_sample(sessions)
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(Subscriber))
    if where == "SECRET_KEY":
        digest.env.pop("SECRET_KEY")
    else:
        digest.env["OLD_SECRET_KEYS"] = f"an-older-real-key,{DEV_SECRET_KEY}"
    result = digest(*args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    line, *hint = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {where}") and "https://verdicts.example" in line
    assert len(hint) <= 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).select_from(Subscriber)) == before


def test_a_developer_site_may_use_the_development_key(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_sample(sessions)
    digest.env.pop("SECRET_KEY")
    digest.env["SITE_URL"] = "http://localhost:5000"
    result = digest("send", "--week", str(W48))
    assert result.exit_code == 0, result.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) > 0
