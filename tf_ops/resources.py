"""Locations of the read-only shared material and the writable cache.

The one place that resolves them: every package imports from here.

* ``shared_dir()``: the project's read-only material (assets, media, reference renders). Defaults to
  ``../shared`` beside the repository; override with the ``C3DMM_SHARED`` environment variable.
* ``cache_dir()``: where derived data (deformation graphs, synthetic datasets, ...) is written. Defaults
  to ``~/.cache/complete3dmm``; override with ``C3DMM_CACHE``. Never under ``shared_dir()``.
"""

from __future__ import annotations

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_dir() -> pathlib.Path:
  """Returns the shared-material folder, raising FileNotFoundError with a hint when it is missing."""
  path = pathlib.Path(os.environ.get('C3DMM_SHARED', REPO_ROOT.parent / 'shared')).expanduser()
  if not path.is_dir():
    raise FileNotFoundError(
        f'Shared material folder not found at {path}. Put the project\'s shared/ folder beside the '
        'repository or point the C3DMM_SHARED environment variable at it.')
  return path


def shared_path(*parts: str) -> pathlib.Path:
  """Returns ``shared_dir()/parts...``, raising FileNotFoundError when the file does not exist."""
  path = shared_dir().joinpath(*parts)
  if not path.exists():
    raise FileNotFoundError(f'Missing shared file {path} (shared folder: {shared_dir()}).')
  return path


def cache_dir(*parts: str) -> pathlib.Path:
  """Returns (and creates) ``cache/parts...``; the cache root comes from ``C3DMM_CACHE``."""
  root = pathlib.Path(os.environ.get('C3DMM_CACHE', pathlib.Path.home() / '.cache' / 'complete3dmm'))
  path = root.expanduser().joinpath(*parts)
  path.mkdir(parents=True, exist_ok=True)
  return path
