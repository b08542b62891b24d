"""The content an editor names: launch:ID, launch:SLUG, tool:SLUG,
comparison:SLUG or a bare slug, found in the store or refused by name."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.content import add_launch, tool_id
from tests.support.sample import load_content
from worker.editor.refs import ContentError, Item, find_items
from worker.store.models import Comparison

PRISMATIC = "prismatic-canvas-vs-sketchloom"


def found(sessions: sessionmaker[Session], *refs: str) -> list[str]:
    with sessions() as session:
        return [item.ref for item in find_items(session, refs)]


def refused(sessions: sessionmaker[Session], *refs: str) -> str:
    with sessions() as session, pytest.raises(ContentError) as error:
        find_items(session, refs)
    return str(error.value)


def test_every_way_of_naming_an_item_finds_it_once(sessions: sessionmaker[Session]) -> None:
    load_content(sessions)
    queryfox = tool_id(sessions, "queryfox")
    assert found(
        sessions,
        f"launch:{queryfox}",
        "launch:queryfox",
        " tool:queryfox ",
        "Tool:queryfox",
        "queryfox",
        f"tool:{queryfox}",
    ) == ["tool:queryfox"]
    with sessions() as session:
        (item,) = find_items(session, [f"comparison:{PRISMATIC}"])
        comparison_id = session.get_one(Comparison, item.id).id
    assert item == Item("comparison", comparison_id, PRISMATIC, "Prismatic Canvas vs Sketchloom")
    assert str(item) == f"comparison:{PRISMATIC} (Prismatic Canvas vs Sketchloom)"
    assert found(sessions, PRISMATIC, f"comparison:{comparison_id}", "tool:sketchloom") == [
        f"comparison:{PRISMATIC}",
        "tool:sketchloom",
    ]


def test_an_unknown_item_is_named_with_the_closest_slug(sessions: sessionmaker[Session]) -> None:
    load_content(sessions)
    assert refused(sessions, "queryfx") == (
        "no tool or comparison has the slug 'queryfx' (did you mean tool:queryfox?)"
    )
    assert refused(sessions, "comparison:prismatic-canvas-vs-sketchlom") == (
        "no comparison has the id or slug 'prismatic-canvas-vs-sketchlom' "
        f"(did you mean comparison:{PRISMATIC}?)"
    )
    assert refused(sessions, "launch:999999", "tool:zzz") == (
        "no launch has the id or slug '999999'; no tool has the id or slug 'zzz'"
    )
    # A tool's slug is not a comparison's.
    assert refused(sessions, "comparison:queryfox") == (
        "no comparison has the id or slug 'queryfox'"
    )


def test_a_bare_number_is_no_slug_but_the_launch_of_that_id_is_suggested(
    sessions: sessionmaker[Session],
) -> None:
    junk = add_launch(sessions, "junk-launch", "Junk Launch")
    assert refused(sessions, str(junk)) == (
        f"no tool or comparison has the slug '{junk}' (did you mean launch:{junk}?)"
    )


def test_a_bad_kind_or_an_empty_name_is_refused(sessions: sessionmaker[Session]) -> None:
    load_content(sessions)
    assert refused(sessions, "compare:x-vs-y") == (
        "'compare:x-vs-y': 'compare' is not a kind of content (did you mean comparison:x-vs-y?)"
    )
    assert refused(sessions, "feed:12") == (
        "'feed:12': 'feed' is not a kind of content (use launch:, tool: or comparison:)"
    )
    assert refused(sessions, "launch:") == "'launch:' names no item"


def test_a_slug_that_a_tool_and_a_comparison_share_must_say_which(
    sessions: sessionmaker[Session],
) -> None:
    load_content(sessions)
    add_launch(sessions, PRISMATIC, "Odd Name")
    assert refused(sessions, PRISMATIC) == (
        f"'{PRISMATIC}' names both tool:{PRISMATIC} and comparison:{PRISMATIC}: say which"
    )
    assert found(sessions, f"tool:{PRISMATIC}", f"comparison:{PRISMATIC}") == [
        f"tool:{PRISMATIC}",
        f"comparison:{PRISMATIC}",
    ]


def test_an_id_and_a_slug_naming_two_tools_must_say_which(sessions: sessionmaker[Session]) -> None:
    first = add_launch(sessions, "first-launch", "First")
    add_launch(sessions, str(first), "A Tool Named By A Number")
    assert refused(sessions, f"launch:{first}") == (
        f"'launch:{first}' names both tool:first-launch and tool:{first}: say which"
    )
