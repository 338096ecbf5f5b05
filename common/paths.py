"""Where files are: package data (shipped), shared test material (optional) and the writable cache.

The one place that resolves them; every package imports from here.

* ``package_data(package, *parts)``: files shipped inside the installed packages (the ICT face arrays in
  ``model/ict_face``, the MediaPipe face mesh in ``data/mediapipe``). What the code needs at run time lives
  here, so a pip-installed project runs without anything beside it.
* ``shared_dir()``: test media, dataset format samples and reference renders, read only by tests and
  benchmarks. Defaults to ``../shared`` beside the repository; override with ``C3DMM_SHARED``.
* ``cache_dir()``: derived data (deformation graphs, synthetic datasets, converted weights). Defaults to
  ``~/.cache/complete3dmm``; override with ``C3DMM_CACHE``. Never under ``shared_dir()``.
"""

from __future__ import annotations

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def package_data(package: str, *parts: str) -> pathlib.Path:
  """Returns ``<installed package folder>/parts...``, raising FileNotFoundError when it does not exist.

  Args:
    package: a top-level package of the project ('model', 'data', ...).
    *parts: path components below the package folder.
  """
  path = REPO_ROOT.joinpath(package, *parts)
  if not path.exists():
    raise FileNotFoundError(
        f'Missing package data {path}: the installation of package {package!r} is incomplete '
        '(reinstall the project; package data ships with it).')
  return path


def shared_dir() -> pathlib.Path:
  """Returns the shared test-material folder, raising FileNotFoundError with a hint when it is missing."""
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
