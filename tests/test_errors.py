"""The one exception tree: every exception class in ``worker`` and
``subscribers`` derives from DigestError, as ``worker/errors.py``'s
docstring draws it, and each error can carry a hint shown after its message."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path

import pytest

import subscribers
import worker
from worker import errors
from worker.editor.lint.spamcheck import SpamCheckError
from worker.errors import ConfigError, DigestError, FeedError, InputError, driver_words

# Running it runs the command.
NOT_IMPORTED = frozenset({"worker.__main__"})


def exception_classes(*packages: types.ModuleType) -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of ``packages``, by its
    qualified name (``worker.errors.ConfigError``)."""
    found: dict[str, type[BaseException]] = {}
    for package in packages:
        names = [package.__name__] + [
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
            if info.name not in NOT_IMPORTED
        ]
        for name in names:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__module__ == name
                ):
                    found[f"{name}.{value.__qualname__}"] = value
    return found


FOUND = exception_classes(worker, subscribers)


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def drawn_tree(docstring: str) -> dict[str, str | None]:
    """Each class the docstring's drawing names, with its parent's name
    (None for the root); names without a module are worker.errors'."""
    drawing = docstring.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in drawing.splitlines():
        match = re.match(
            r"    (?P<indent>(?:│   |    )*)(?P<branch>[├└]── )?(?P<name>[\w.]+)", line
        )
        assert match, line
        depth = len(match["indent"]) // 4 + (1 if match["branch"] else 0)
        name = match["name"] if "." in match["name"] else f"worker.errors.{match['name']}"
        parents[name] = path[depth - 1] if depth else None
        path[depth:] = [name]
    return parents


def test_the_walk_finds_the_errors_of_every_package() -> None:
    assert {
        "worker.errors.DigestError",
        "worker.errors.ConfigError",
        "worker.deliver.editions.EditionStateError",
        "subscribers.intake.sns.Rejected",
        "subscribers.web.pages.common.InvalidLink",
    } <= FOUND.keys()


@pytest.mark.parametrize("name", sorted(FOUND))
def test_every_exception_class_joins_the_tree(name: str) -> None:
    assert issubclass(FOUND[name], DigestError), f"{name} does not derive from DigestError"


@pytest.mark.parametrize("name", sorted(n for n in FOUND if not FOUND[n].__name__.startswith("_")))
def test_every_public_error_takes_a_hint(name: str) -> None:
    assert "hint" in inspect.signature(FOUND[name]).parameters, name


def test_the_docstring_draws_the_tree_as_the_code_has_it() -> None:
    assert errors.__doc__ is not None
    actual = {
        name: qualified(cls.__bases__[0]) if qualified(cls.__bases__[0]) in FOUND else None
        for name, cls in FOUND.items()
    }
    assert drawn_tree(errors.__doc__) == actual


def test_a_bare_exception_subclass_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "stray_errors_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mistakes.py").write_text(
        "from worker.errors import DigestError\n\n\n"
        "class Joined(DigestError):\n    pass\n\n\n"
        "class Stray(ValueError):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = exception_classes(importlib.import_module("stray_errors_package"))
    assert sorted(found) == [
        "stray_errors_package.mistakes.Joined",
        "stray_errors_package.mistakes.Stray",
    ]
    assert [n for n, cls in found.items() if not issubclass(cls, DigestError)] == [
        "stray_errors_package.mistakes.Stray"
    ]


def test_the_drawing_is_read_by_depth() -> None:
    drawing = "\n".join(
        [
            "    DigestError   root",
            "    ├── MailError   a",
            "    │   └── worker.deliver.notices.NoticeNotSent   b",
            "    └── subscribers.admin.ListError   c",
        ]
    )
    assert drawn_tree(f"Errors.\n\n::\n\n{drawing}\n\nMore.") == {
        "worker.errors.DigestError": None,
        "worker.errors.MailError": "worker.errors.DigestError",
        "worker.deliver.notices.NoticeNotSent": "worker.errors.MailError",
        "subscribers.admin.ListError": "worker.errors.DigestError",
    }


def test_a_hint_is_carried_and_shown_after_the_message() -> None:
    error = ConfigError("SITE_URL: is not https", hint="set SITE_URL to the https address")
    assert str(error) == "SITE_URL: is not https"
    assert error.hint == "set SITE_URL to the https address"
    assert (str(error), error.hint) == (
        "SITE_URL: is not https",
        "set SITE_URL to the https address",
    )
    plain = ConfigError("SITE_URL: is not https")
    assert (plain.hint, str(plain)) == ("", "SITE_URL: is not https")


def test_errors_with_their_own_arguments_keep_their_message_and_take_a_hint() -> None:
    bad_file = InputError("feeds.toml", ["feed[0]: needs a url"], hint="see docs/ingest.md")
    assert str(bad_file) == "feeds.toml: 1 problem:\n  feed[0]: needs a url"
    assert bad_file.hint == "see docs/ingest.md"
    assert driver_words(bad_file) == "feeds.toml: 1 problem:"
    feed = FeedError("https://f.example/rss", "gone", hint="remove it from FEEDS_FILE")
    assert (str(feed), feed.hint) == ("https://f.example/rss: gone", "remove it from FEEDS_FILE")


def test_a_class_hint_is_the_default_and_a_raise_site_may_give_its_own() -> None:
    missing = SpamCheckError("SpamAssassin is not installed")
    assert missing.hint == "digest lint --no-spam leaves the spam check out"
    own = SpamCheckError("SpamAssassin took longer than 30 s", hint="try again")
    assert own.hint == "try again"
    assert SpamCheckError.hint == "digest lint --no-spam leaves the spam check out"
