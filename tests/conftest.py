"""Shared fixtures: global structlog state reset per test, hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from livetrade.logs import close_logging

# No example database: failures are reproduced from the printed example, not a cache.
settings.register_profile(
    "default", deadline=None, max_examples=100, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci", deadline=None, max_examples=50, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Each test starts and ends with structlog's defaults (no config leaks between tests),
    and a background log writer a test configured is closed (its thread ends)."""
    structlog.reset_defaults()
    yield
    close_logging()
    structlog.reset_defaults()
