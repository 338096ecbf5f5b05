"""Access to ``tf_ops.resources`` (shared material and cache paths) for the data package.

``tf_ops/__init__`` imports the compiled rasterizer op; when that op is not built (or is being rebuilt),
the data tools must still work, so this falls back to loading ``tf_ops/resources.py`` by file path. Either
way the paths come from the one resolver in ``tf_ops.resources``.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

try:
  from tf_ops import resources  # pylint: disable=g-import-not-at-top
except Exception:  # pylint: disable=broad-except  # the op library may be missing or mid-build
  _path = pathlib.Path(__file__).resolve().parent.parent / 'tf_ops' / 'resources.py'
  _spec = importlib.util.spec_from_file_location('_c3dmm_tf_ops_resources', _path)
  resources = importlib.util.module_from_spec(_spec)
  sys.modules[_spec.name] = resources
  _spec.loader.exec_module(resources)

shared_dir = resources.shared_dir
shared_path = resources.shared_path
cache_dir = resources.cache_dir

__all__ = ['cache_dir', 'shared_dir', 'shared_path']
