"""Fixtures of the delivery tests: a renderer, and settings with batches of
three (the sample's eight subscribers make three batches)."""

from __future__ import annotations

import dataclasses

import pytest

from worker.config import Settings
from worker.render.renderer import Renderer


@pytest.fixture
def renderer(settings: Settings) -> Renderer:
    return Renderer(settings.templates_dir)


@pytest.fixture
def small(settings: Settings) -> Settings:
    return dataclasses.replace(settings, batch_size=3)
