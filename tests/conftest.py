"""Fixtures for every test package."""

import pytest

from common import paths


@pytest.fixture(scope='session')
def shared_dir():
  """The shared test-material folder (``common.paths.shared_dir``; ``C3DMM_SHARED`` overrides it)."""
  return paths.shared_dir()
