"""Finds and loads the compiled op library (pip/in-place build or Bazel build), once."""

from __future__ import annotations

import functools
import os
import pathlib

import tensorflow as tf

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
LIBRARY_NAME = '_rasterizer_ops.so'


def candidate_paths() -> list[pathlib.Path]:
  """Where the library is looked for, in order: $C3DMM_OP_LIBRARY, the in-place build, Bazel's."""
  paths = []
  if os.environ.get('C3DMM_OP_LIBRARY'):
    paths.append(pathlib.Path(os.environ['C3DMM_OP_LIBRARY']))
  paths.append(_PACKAGE_DIR / LIBRARY_NAME)
  paths.append(_PACKAGE_DIR.parent / 'bazel-bin' / 'tf_ops' / LIBRARY_NAME)
  return paths


@functools.lru_cache(maxsize=None)
def ops():
  """Returns the loaded op module; raises ImportError saying what to run when there is none."""
  for path in candidate_paths():
    if path.is_file():
      return tf.load_op_library(str(path))
  tried = '\n  '.join(str(p) for p in candidate_paths())
  raise ImportError(
      'The rasterizer op library is not built. Build it with one of:\n'
      '  pip install --no-build-isolation -e .      (or: python -m tf_ops.build)\n'
      '  bazel build //tf_ops:rasterizer            (after scripts/configure_bazel.sh)\n'
      f'Looked for:\n  {tried}')
